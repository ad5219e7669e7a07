//! The policy language, its compiler to one Aho-Corasick automaton plus one multi-pattern regex, the detectors, and evaluation.
