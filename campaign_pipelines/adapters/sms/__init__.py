"""SMS providers: the embedded outbox and Twilio, behind ``protocol.SmsProvider``."""
