//! Compliance exports other chat platforms write: Actiance XML and the Global Relay EML flavour (as Mattermost writes them), into canonical events.
