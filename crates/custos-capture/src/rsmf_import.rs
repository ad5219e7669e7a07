//! Importing RSMF 2.0 files (Relativity Short Message Format) another archive produced: the `.rsmf` e-mail, its `rsmf.zip` and manifest, into canonical events.
