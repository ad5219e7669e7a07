//! Supervision state: policy versions, alerts and their review, samples, as journal events and the queue folded from them.
