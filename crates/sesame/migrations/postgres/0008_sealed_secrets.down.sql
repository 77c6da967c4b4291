-- An older binary reads `private_der` as plaintext PKCS#8: sealed keys would be unreadable to
-- it, so they go (it generates a new signing key at its next start; tokens signed with the
-- removed keys stop verifying). Legacy plaintext rows stay.
DELETE FROM signing_keys WHERE key_id IS NOT NULL;
ALTER TABLE signing_keys DROP COLUMN key_id;
