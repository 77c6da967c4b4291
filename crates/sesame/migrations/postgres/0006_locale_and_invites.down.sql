-- Outstanding invitations cannot be kept under the narrower list: they go, with the
-- invitation mail still waiting (an older binary cannot render that kind, and its link would
-- point at a deleted token).
DELETE FROM mail_outbox WHERE kind = 'invite' AND status = 'pending';
DELETE FROM email_tokens WHERE purpose = 'set_password';
ALTER TABLE email_tokens DROP CONSTRAINT email_tokens_purpose_check;
ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_purpose_check
    CHECK (purpose IN ('verify_email', 'reset_password', 'change_email'));
ALTER TABLE mail_outbox DROP COLUMN locale;
ALTER TABLE users DROP COLUMN locale;
