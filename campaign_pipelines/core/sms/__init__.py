"""The sms domain's pure core: what an SMS campaign file may say (campaign.py), phone numbers
(phones.py), message templates and their segments (template.py, segments.py), the campaign's
status machine (lifecycle.py), the send ledger's rules (ledger.py), the sending window
(quiet_hours.py), inbound keywords (replies.py) and the provider throttle (throttle.py).
No Dagster, no I/O: the store, sender, defs, CLI and ingress call these."""
