-- The language of each account's emails (issue 12), and of each queued mail, chosen when it
-- was queued. Accounts from before speak English; mail queued before has none (the server's
-- default language renders it).
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';
ALTER TABLE mail_outbox ADD COLUMN locale TEXT;
