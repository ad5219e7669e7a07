//! Microsoft Teams messages as Microsoft Graph returns them (`chatMessage` JSON, with replies, edits, deletions, attachments and mentions) into canonical events.
