// ModelInstance: one runnable copy of a model, owned by one scheduler worker. The scheduler sees models
// only through this interface, so another execution provider (or a test double) can stand in for the
// oneDNN engine.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "common/status.h"
#include "engine/session.h"
#include "tensor/tensor.h"

namespace peregrine::serving {

class ModelInstance {
 public:
  virtual ~ModelInstance() = default;
  // Same contract as engine::Session::Run: inputs in inputs() order; outputs filled (allocated when the
  // caller's tensor does not fit). Never called concurrently on one instance.
  virtual absl::Status Run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs) = 0;
  virtual const std::vector<engine::TensorInfo>& inputs() const = 0;
  virtual const std::vector<engine::TensorInfo>& outputs() const = 0;
};

// The CPU execution provider's instance: an engine::Session.
std::unique_ptr<ModelInstance> MakeSessionInstance(std::unique_ptr<engine::Session> session);

}  // namespace peregrine::serving
