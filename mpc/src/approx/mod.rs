//! Nonlinear functions on secret-shared tensors (in progress).
