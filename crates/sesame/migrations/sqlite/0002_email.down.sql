DROP TABLE mail_outbox;
DROP TABLE email_tokens;
