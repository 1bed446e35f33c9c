-- The reference-source contract of the embedded warehouse. Fill these tables with your own
-- data (or point config/reference_sources/*.yaml at other tables); `campaigns demo-data`
-- fills them with a synthetic bank.
CREATE SCHEMA IF NOT EXISTS sources;
CREATE SCHEMA IF NOT EXISTS dssb_ocds;
CREATE SCHEMA IF NOT EXISTS spss;
CREATE SCHEMA IF NOT EXISTS campaign_ops;
CREATE TABLE IF NOT EXISTS sources.blacklist (source VARCHAR NOT NULL, iin VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS sources.client_devices (iin VARCHAR NOT NULL, device VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS sources.push_preferences (iin VARCHAR NOT NULL, stream VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS sources.mau (iin VARCHAR NOT NULL, month DATE NOT NULL);
CREATE TABLE IF NOT EXISTS sources.client_products (iin VARCHAR NOT NULL, product VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS sources.client_phones (iin VARCHAR NOT NULL, phone VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS sources.client_events (iin VARCHAR NOT NULL, event VARCHAR NOT NULL, event_date DATE NOT NULL);
