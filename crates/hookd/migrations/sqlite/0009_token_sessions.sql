-- The session an application's token was issued for (app-portal-access
-- `sessionId`), so that `expire-all` can expire one session's tokens.
ALTER TABLE tokens ADD COLUMN session_id TEXT;
