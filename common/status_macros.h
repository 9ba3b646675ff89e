// Return-if-error and assign-or-return for absl::Status / absl::StatusOr (Debian 12's abseil
// predates its own macros). Header-only; used by every layer.
#ifndef BACKTEST_COMMON_STATUS_MACROS_H_
#define BACKTEST_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define BT_CONCAT_INNER_(a, b) a##b
#define BT_CONCAT_(a, b) BT_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function when not OK.
#define RETURN_IF_ERROR(expr)                     \
  do {                                            \
    ::absl::Status bt_status_ = (expr);           \
    if (!bt_status_.ok()) return bt_status_;      \
  } while (false)

// `lhs = *expr` for an absl::StatusOr expression; returns its status when not OK.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(BT_CONCAT_(bt_statusor_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = *std::move(tmp)

#endif  // BACKTEST_COMMON_STATUS_MACROS_H_
