"""Python client of backtestd, generated from protos/backtest/v1 (client/python/generate.sh).

    from backtestd_client import Client
    with Client("127.0.0.1:50051", token_file="var/admin.token") as client:
        run = client.run_backtest({"strategy": "sma_cross", "symbols": "EURUSD"})
        for event in run:               # log lines, progress, status changes, until the end
            print(event.seq, event.kind)
        print(client.get_result(run.job_id).stats.sharpe)
        closes = client.get_columns(run.job_id).close   # a column of floats, no message per bar

The generated messages and stubs are re-exported: ``backtest_service_pb2``, ``job_pb2``, … and
their ``*_pb2_grpc`` modules, for everything the convenience layer does not wrap.
"""

from backtestd_client._gen.backtest.v1 import (  # noqa: F401
    backtest_service_pb2,
    backtest_service_pb2_grpc,
    job_pb2,
    preset_service_pb2,
    preset_service_pb2_grpc,
    result_pb2,
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from backtestd_client.client import (  # noqa: F401
    FINAL_STATUSES,
    BacktestError,
    Client,
    Event,
    ResultColumns,
    Run,
    to_dict,
    values_to_dict,
)

__all__ = ["Client", "Run", "Event", "ResultColumns", "BacktestError", "FINAL_STATUSES",
           "to_dict", "values_to_dict"]
