//! Neural-network modules, losses and optimizers mirroring `torch.nn`, generic over the
//! tensor op contract.
//!
//! `nn` depends on `autograd` and `tensor`, never on `mpc`: a model becomes private by how its
//! parameters are produced (shared in from their owner), not by a different module type.
//! Modules, losses, optimizers and safetensors loading arrive with the training issue; this
//! crate fixes the layer and the dependency direction in the foundation milestone.

pub use autograd::TensorOps;
