//! E-mail: RFC 5322 messages (`.eml`), mbox files and Maildir folders, parsed with mail-parser into canonical messages, threaded by Message-ID / In-Reply-To / References.
