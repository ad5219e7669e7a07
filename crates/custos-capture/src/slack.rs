//! Slack workspace exports (the `.zip` of users.json, channels.json, dms.json, ... and one folder per conversation of per-day JSON files) into canonical messages, edits, deletions and reactions.
