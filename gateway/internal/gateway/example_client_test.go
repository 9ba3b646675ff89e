package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	"backtestd/gateway/internal/fakebackend"
	backtestv1 "backtestd/gateway/internal/gen/backtest/v1"
)

// Example_generatedClient uses backtestd's generated Go client (internal/gen/backtest/v1, the one
// the gateway itself talks through): dial, send the token as `authorization` metadata, submit a
// backtest, follow its live log to the end, fetch the result. It runs against the fake backend
// here; against a real backtestd, dial its address (127.0.0.1:50051) with the token from
// var/admin.token.
func Example_generatedClient() {
	fake, err := fakebackend.Start(fakebackend.Config{AutoRun: true, RunTime: 200 * time.Millisecond, Bars: 50})
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Stop()

	conn, err := grpc.NewClient(fake.Addr(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// A result with every candle of a long run is tens of MB.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(512<<20)))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	jobs := backtestv1.NewBacktestServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Token user-token")

	run, err := jobs.RunBacktest(ctx, &backtestv1.RunBacktestRequest{Params: map[string]*structpb.Value{
		"strategy":  structpb.NewStringValue("sma_cross"),
		"symbols":   structpb.NewStringValue("EURUSD"),
		"timeframe": structpb.NewStringValue("H1"),
	}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("submitted, status", run.GetJob().GetStatus())

	// The stream sends the history, then live events, and closes when the job ends. After a
	// dropped connection, call again with FromSeq = the last Seq seen + 1.
	stream, err := jobs.StreamJobLog(ctx, &backtestv1.StreamJobLogRequest{JobId: run.GetJobId(), FromSeq: 1})
	if err != nil {
		log.Fatal(err)
	}
	final := ""
	for {
		event, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if change := event.GetStatus(); change != nil {
			final = change.GetStatus()
		}
	}
	fmt.Println("final status", final)

	result, err := jobs.GetResult(ctx, &backtestv1.GetResultRequest{JobId: run.GetJobId(), MaxCandles: 10})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("candles", len(result.GetCandles()), "of", result.GetTotalCandles())
	// Output:
	// submitted, status queued
	// final status finished
	// candles 10 of 50
}
