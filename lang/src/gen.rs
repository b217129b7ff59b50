//! A generator of random well-typed Entish programs.
