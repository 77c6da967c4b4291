DROP INDEX signing_keys_primary_for_key;
ALTER TABLE signing_keys DROP COLUMN primary_for;
DELETE FROM signing_keys WHERE algorithm <> 'EdDSA';
DROP TABLE consents;
DROP TABLE authorization_codes;
DELETE FROM sessions WHERE kind <> 'api';
ALTER TABLE sessions DROP COLUMN scope;
ALTER TABLE sessions DROP COLUMN client_id;
ALTER TABLE sessions DROP COLUMN kind;
