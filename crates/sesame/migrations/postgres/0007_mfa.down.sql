DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE mfa_factors;
ALTER TABLE sessions DROP COLUMN amr;
ALTER TABLE sessions DROP COLUMN auth_time;
