ALTER TABLE mail_outbox DROP COLUMN locale;
ALTER TABLE users DROP COLUMN locale;
