"""Runs a backtrader bot the way its users do without backtestd (the seed's test.py): environment
overrides put in os.environ, the module imported, `backtesting(**args)` called. Prints one JSON
line: the bot's own closed-trade list (strategies[0].closed_trades), the broker's final value, and
the wall and CPU seconds from importing the bot's module to the call's return (what the bot
imports — backtrader, urllib.request — is imported before the clock starts, as it is on the
adapter's side of bench/backtrader_adapter).

    python plain_backtrader.py BOT_DIR ARGS_JSON ENV_JSON
"""

import json
import os
import sys
import time


def main():
    folder, args, env = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    os.environ.update(env)
    sys.path.insert(0, folder)
    import backtrader  # noqa: F401
    import urllib.request  # noqa: F401
    started, cpu = time.perf_counter(), time.process_time()
    import main as bot  # the bot's module, after its environment is set
    cerebro, strategies, _, _ = bot.backtesting(**args)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"trades": strategies[0].closed_trades, "value": cerebro.broker.getvalue(),
                      "seconds": seconds, "cpu": cpu}))


if __name__ == "__main__":
    main()
