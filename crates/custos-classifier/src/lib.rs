//! The risk classifier: logistic regression over hashed word and character n-grams, trained from labelled messages and reviewers dispositions.
