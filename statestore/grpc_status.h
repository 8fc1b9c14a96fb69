#ifndef MIDWIFE_STATESTORE_GRPC_STATUS_H_
#define MIDWIFE_STATESTORE_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace midwife::statestore {

// The one place where Abseil and gRPC statuses meet. Their canonical codes
// are the same numbers; the message travels as is.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace midwife::statestore

#endif  // MIDWIFE_STATESTORE_GRPC_STATUS_H_
