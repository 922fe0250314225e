-- An install waits for its owner's renewed consent once the app's manifest changed what runs or
-- what it may do (runner, command, image, env, scopes): while `suspended_at` is set its instance
-- does not start, the proxy does not pass to it, and its tokens are refused. Installing again
-- clears it.
ALTER TABLE app_installs ADD COLUMN suspended_at INTEGER;
