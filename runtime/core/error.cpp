#include "aprc/error.h"

namespace aprc {

void throw_bad_input(const std::string& message) { throw Error(ErrorKind::BadInput, message); }
void throw_internal(const std::string& message) { throw Error(ErrorKind::Internal, message); }

}  // namespace aprc
