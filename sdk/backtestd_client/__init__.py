"""The old name of backtestd's service client, kept for code that imports it: the client is
``backtestd.Client`` now (``from backtestd import Client``), in the one ``backtestd``
distribution with the SDK. Everything this package offered is the same object under both names:

    from backtestd_client import Client                      # as before
    from backtestd_client import job_pb2                     # the generated modules
    from backtestd_client._gen.backtest.v1 import job_pb2    # and their old path
"""

import sys as _sys

from backtestd import _gen, client
from backtestd._gen.backtest.v1 import (  # noqa: F401
    backtest_service_pb2,
    backtest_service_pb2_grpc,
    job_pb2,
    preset_service_pb2,
    preset_service_pb2_grpc,
    result_pb2,
    strategy_service_pb2,
    strategy_service_pb2_grpc,
    sweep_service_pb2,
    sweep_service_pb2_grpc,
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from backtestd.client import (  # noqa: F401
    FINAL_STATUSES,
    BacktestError,
    Client,
    Event,
    ResultColumns,
    Run,
    to_dict,
    values_to_dict,
)

# The old module paths name the new modules (backtestd_client.client, backtestd_client._gen…).
_sys.modules[__name__ + ".client"] = client
_sys.modules[__name__ + "._gen"] = _gen
for _name, _module in list(_sys.modules.items()):
    if _name.startswith("backtestd._gen."):
        _sys.modules["backtestd_client" + _name[len("backtestd"):]] = _module

__all__ = ["Client", "Run", "Event", "ResultColumns", "BacktestError", "FINAL_STATUSES",
           "to_dict", "values_to_dict"]
