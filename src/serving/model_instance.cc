// The CPU execution provider's ModelInstance: a thin adapter over engine::Session. It is also the place
// where exceptions escaping the engine's third-party libraries (oneDNN, the allocator) become Status.
#include "serving/model_instance.h"

#include <exception>
#include <new>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace peregrine::serving {
namespace {

class SessionInstance final : public ModelInstance {
 public:
  explicit SessionInstance(std::unique_ptr<engine::Session> session) : session_(std::move(session)) {}

  absl::Status Run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs) override {
    try {
      return session_->Run(inputs, outputs);
    } catch (const std::bad_alloc&) {
      return absl::InternalError("out of memory while running the model");
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("the engine failed: ", std::string(e.what())));
    } catch (...) {
      return absl::InternalError("the engine failed with an unknown exception");
    }
  }

  const std::vector<engine::TensorInfo>& inputs() const override { return session_->inputs(); }
  const std::vector<engine::TensorInfo>& outputs() const override { return session_->outputs(); }

 private:
  std::unique_ptr<engine::Session> session_;
};

}  // namespace

std::unique_ptr<ModelInstance> MakeSessionInstance(std::unique_ptr<engine::Session> session) {
  return std::make_unique<SessionInstance>(std::move(session));
}

}  // namespace peregrine::serving
