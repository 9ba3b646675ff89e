// Package fakebackend is a hand-written stand-in for backtestd's gRPC API, for tests of the
// gateway and the dashboard: the three backtest.v1 services and grpc.health.v1 with canned but
// realistic data, token auth, and hooks (injected errors, live jobs, the metadata it saw).
package fakebackend

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	backtestv1 "backtestd/gateway/internal/gen/backtest/v1"
)

// Tokens the fake backend accepts.
const (
	UserToken  = "Token user-token"
	StaffToken = "Token staff-token"
)

// Backend is the fake backtestd. Safe for concurrent use.
type Backend struct {
	backtestv1.UnimplementedBacktestServiceServer
	backtestv1.UnimplementedPresetServiceServer
	backtestv1.UnimplementedTraceServiceServer
	backtestv1.UnimplementedStrategyServiceServer
	// Sweeps are not faked: their calls answer UNIMPLEMENTED.
	backtestv1.UnimplementedSweepServiceServer

	cfg    Config
	addr   string
	server *grpc.Server
	health *health.Server
	stop   chan struct{} // closed by Stop: auto-running jobs end

	mu          sync.Mutex
	jobs        map[string]*fakeJob
	jobOrder    []string
	presets     map[string]*backtestv1.Preset
	nextJob     int
	inject      map[string]error // method name → error every call of it returns
	auths       []string         // authorization metadata of every call, in order
	calls       []Call           // every call, health checks included, in order
	openStreams int              // StreamJobLog calls in progress
	results     map[string]*backtestv1.GetResultResponse
}

// Config tunes the fake.
type Config struct {
	// AutoRun makes jobs submitted with RunBacktest run by themselves: status changes, log lines
	// and progress over RunTime (default 2s), then a finished result. Without it they stay queued.
	AutoRun bool
	RunTime time.Duration
	// Bars is the number of bars of the results of job-done and of submitted jobs (default 100).
	Bars int
	// Listen is the gRPC listen address (default 127.0.0.1:0, an ephemeral port).
	Listen string
	// TLS, when set, makes the fake serve gRPC over TLS with this configuration (its certificate;
	// ClientAuth and ClientCAs for mutual TLS).
	TLS *tls.Config
}

// Call is one gRPC call the fake received: its full method name, its metadata, and for a unary
// call its request.
type Call struct {
	Method   string
	Metadata metadata.MD
	Request  any
}

// Services are the services the fake serves, each reported SERVING by its health service until
// SetServing or SetServiceServing says otherwise.
var Services = []string{
	backtestv1.BacktestService_ServiceDesc.ServiceName,
	backtestv1.PresetService_ServiceDesc.ServiceName,
	backtestv1.TraceService_ServiceDesc.ServiceName,
	backtestv1.StrategyService_ServiceDesc.ServiceName,
	backtestv1.SweepService_ServiceDesc.ServiceName,
}

// Start serves a fake backend on 127.0.0.1 with an ephemeral port. Besides the jobs submitted to
// it, it has job-done (finished, 8 events, one of them a trace batch), job-live (running; its
// stream stays open until Finish), job-big (finished, 1,000,000 one-minute bars) and the preset
// "default". The tokens are UserToken and StaffToken.
func Start(cfg Config) (*Backend, error) {
	if cfg.RunTime <= 0 {
		cfg.RunTime = 2 * time.Second
	}
	if cfg.Bars <= 0 {
		cfg.Bars = 100
	}
	f := &Backend{
		cfg:     cfg,
		jobs:    map[string]*fakeJob{},
		presets: map[string]*backtestv1.Preset{},
		inject:  map[string]error{},
		results: map[string]*backtestv1.GetResultResponse{},
		health:  health.NewServer(),
		stop:    make(chan struct{}),
	}
	f.addFinishedJob("job-done")
	f.addLiveJob("job-live")
	f.addFinishedJob("job-big")
	f.presets["default"] = &backtestv1.Preset{
		Name:      "default",
		Values:    map[string]*structpb.Value{"rr": structpb.NewNumberValue(2), "symbols": structpb.NewStringValue("XAGUSD")},
		UpdatedAt: timestamppb.New(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)),
	}

	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	f.addr = lis.Addr().String()
	serverOpts := []grpc.ServerOption{grpc.UnaryInterceptor(f.unaryInterceptor), grpc.StreamInterceptor(f.streamInterceptor)}
	if cfg.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	f.server = grpc.NewServer(serverOpts...)
	backtestv1.RegisterBacktestServiceServer(f.server, f)
	backtestv1.RegisterPresetServiceServer(f.server, f)
	backtestv1.RegisterTraceServiceServer(f.server, f)
	backtestv1.RegisterStrategyServiceServer(f.server, f)
	backtestv1.RegisterSweepServiceServer(f.server, f)
	grpc_health_v1.RegisterHealthServer(f.server, f.health)
	for _, name := range Services {
		f.health.SetServingStatus(name, grpc_health_v1.HealthCheckResponse_SERVING)
	}
	go func() { _ = f.server.Serve(lis) }()
	return f, nil
}

// fakeJob is one job with its event log. A live job's stream waits for more events until it ends.
type fakeJob struct {
	job     *backtestv1.Job
	events  []*backtestv1.StreamJobLogResponse
	live    bool
	changed chan struct{} // closed (and replaced) whenever events are added or the job ends
}

// Addr is the fake's gRPC address.
func (f *Backend) Addr() string { return f.addr }

// Stop stops serving at once. Safe to call more than once.
func (f *Backend) Stop() {
	f.mu.Lock()
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.mu.Unlock()
	f.server.Stop()
}

// SetServing sets what the health service answers for the whole server and for each of
// Services.
func (f *Backend) SetServing(serving bool) {
	f.SetServiceServing("", serving)
	for _, name := range Services {
		f.SetServiceServing(name, serving)
	}
}

// SetServiceServing sets what the health service answers for one service ("" is the server).
func (f *Backend) SetServiceServing(service string, serving bool) {
	st := grpc_health_v1.HealthCheckResponse_SERVING
	if !serving {
		st = grpc_health_v1.HealthCheckResponse_NOT_SERVING
	}
	f.health.SetServingStatus(service, st)
}

// injectError makes every call of method (e.g. "GetJob") fail with err.
func (f *Backend) InjectError(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject[method] = err
}

func (f *Backend) LastAuth() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.auths) == 0 {
		return ""
	}
	return f.auths[len(f.auths)-1]
}

// Calls are the calls received so far, in order, health checks included.
func (f *Backend) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

func (f *Backend) StreamsOpen() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.openStreams
}

func (f *Backend) check(ctx context.Context, fullMethod string, req any) error {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.calls = append(f.calls, Call{Method: fullMethod, Metadata: md.Copy(), Request: req})
	f.mu.Unlock()
	if strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") {
		return nil
	}
	auth := strings.Join(md.Get("authorization"), ",")
	f.mu.Lock()
	f.auths = append(f.auths, auth)
	err := f.inject[fullMethod[strings.LastIndex(fullMethod, "/")+1:]]
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if auth != UserToken && auth != StaffToken {
		return status.Error(codes.Unauthenticated, "missing or unknown token: send authorization: Token <token>")
	}
	return nil
}

func (f *Backend) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := f.check(ctx, info.FullMethod, req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (f *Backend) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := f.check(ss.Context(), info.FullMethod, nil); err != nil {
		return err
	}
	return handler(srv, ss)
}

// --- jobs -------------------------------------------------------------------

// T0 is the open time of the first bar of every fake result and the creation time of the fake jobs.
var T0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func (f *Backend) newJob(id, st string) *fakeJob {
	j := &fakeJob{
		job: &backtestv1.Job{
			JobId:     id,
			Status:    st,
			Owner:     "alice",
			Params:    map[string]*structpb.Value{"strategy": structpb.NewStringValue("sr_breakout"), "rr": structpb.NewNumberValue(2)},
			Progress:  &backtestv1.Progress{Stage: "queued"},
			CreatedAt: timestamppb.New(T0),
		},
		changed: make(chan struct{}),
	}
	f.jobs[id] = j
	f.jobOrder = append(f.jobOrder, id)
	j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Status{Status: &backtestv1.StatusChange{Status: "queued"}}})
	return j
}

// add appends an event with the next seq (callers hold f.mu or own the job alone).
func (j *fakeJob) add(ev *backtestv1.StreamJobLogResponse) {
	ev.Seq = int32(len(j.events) + 1)
	ev.Time = timestamppb.New(T0.Add(time.Duration(ev.Seq) * time.Second))
	j.events = append(j.events, ev)
	j.job.LastSeq = ev.Seq
	close(j.changed)
	j.changed = make(chan struct{})
}

func logEvent(text string) *backtestv1.StreamJobLogResponse {
	return &backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Log{
		Log: &backtestv1.LogLine{Source: "engine", Level: "info", Text: text}}}
}

func (f *Backend) addFinishedJob(id string) {
	j := f.newJob(id, "finished")
	j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Status{Status: &backtestv1.StatusChange{Status: "running"}}})
	j.add(logEvent("loading XAGUSD H1 from sample://"))
	j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Progress{
		Progress: &backtestv1.Progress{Fraction: 0.5, Stage: "running", EtaSeconds: 1.5, BarsDone: 50, BarsTotal: 100}}})
	j.add(logEvent("2021-12-01T10:00:00Z BUY XAGUSD 22.512 size 4.2\twith a tab and \"quotes\""))
	j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Trace{Trace: &backtestv1.TraceBatch{
		Rows: []*backtestv1.TraceRow{traceRow(1, 5, "signal")}}}})
	j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Progress{
		Progress: &backtestv1.Progress{Fraction: 1, Stage: "done", BarsDone: 100, BarsTotal: 100}}})
	j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Status{Status: &backtestv1.StatusChange{Status: "finished"}}})
	j.job.Progress = &backtestv1.Progress{Fraction: 1, Stage: "done", BarsDone: 100, BarsTotal: 100}
	j.job.ResultUrl = "/api/jobs/" + id + "/result/"
	j.job.StdoutTail = "done\n"
	j.job.StartedAt = timestamppb.New(T0.Add(time.Second))
	j.job.FinishedAt = timestamppb.New(T0.Add(8 * time.Second))
}

func (f *Backend) addLiveJob(id string) {
	j := f.newJob(id, "running")
	j.live = true
	j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Status{Status: &backtestv1.StatusChange{Status: "running"}}})
	j.add(logEvent("warming up"))
	j.job.Pid = 4242
	j.job.Progress = &backtestv1.Progress{Fraction: 0.1, Stage: "running", BarsDone: 10, BarsTotal: 100, EtaSeconds: 9}
}

// appendLog adds a log line to a job, as a running job would.
func (f *Backend) AppendLog(id, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[id].add(logEvent(text))
}

// finish ends a live job: its streams send what is left and close.
func (f *Backend) Finish(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.jobs[id]
	j.job.Status = "finished"
	j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Status{Status: &backtestv1.StatusChange{Status: "finished"}}})
	j.live = false
	close(j.changed)
	j.changed = make(chan struct{})
}

func (f *Backend) job(id string) (*fakeJob, error) {
	j, ok := f.jobs[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "job %s not found", id)
	}
	return j, nil
}

func (f *Backend) RunBacktest(ctx context.Context, req *backtestv1.RunBacktestRequest) (*backtestv1.RunBacktestResponse, error) {
	params, err := validate(req.GetParams())
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.GetPreset() != "" && f.presets[req.GetPreset()] == nil {
		return nil, status.Errorf(codes.NotFound, "preset %q not found", req.GetPreset())
	}
	f.nextJob++
	id := fmt.Sprintf("job-%d", f.nextJob)
	j := f.newJob(id, "queued")
	for k, v := range params {
		j.job.Params[k] = v
	}
	j.job.Preset = req.GetPreset()
	// As backtestd does: the job keeps the x-request-id of the call that submitted it.
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("x-request-id")) > 0 {
		j.job.RequestId = md.Get("x-request-id")[0]
	}
	if f.cfg.AutoRun {
		j.live = true
		go f.autoRun(id)
	}
	return &backtestv1.RunBacktestResponse{
		JobId: id, Job: proto.Clone(j.job).(*backtestv1.Job),
		JobUrl: "/jobs/" + id + "/", StatusUrl: "/api/jobs/" + id + "/status/",
	}, nil
}

// autoRun plays a job's life: running, log lines and progress over cfg.RunTime, finished.
func (f *Backend) autoRun(id string) {
	const steps = 20
	tick := time.NewTicker(f.cfg.RunTime / steps)
	defer tick.Stop()
	bars := int32(f.cfg.Bars)
	for i := 0; i <= steps; i++ {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		f.mu.Lock()
		j := f.jobs[id]
		if j.job.Status == "cancelled" {
			j.live = false
			j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Status{Status: &backtestv1.StatusChange{Status: "cancelled", Error: j.job.Error}}})
			f.mu.Unlock()
			return
		}
		switch {
		case i == 0:
			j.job.Status, j.job.Pid = "running", 4000+int32(f.nextJob)
			j.job.Runner = fmt.Sprintf("local pid %d", j.job.Pid) // kept after the end, as backtestd keeps it
			j.job.StartedAt = timestamppb.Now()
			j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Status{Status: &backtestv1.StatusChange{Status: "running"}}})
			j.add(logEvent(fmt.Sprintf("loading XAGUSD %s from sample://", j.job.Params["timeframe"].GetStringValue())))
		case i < steps:
			done := bars * int32(i) / steps
			p := &backtestv1.Progress{Fraction: float64(i) / steps, Stage: "running", BarsDone: done, BarsTotal: bars,
				EtaSeconds: f.cfg.RunTime.Seconds() * float64(steps-i) / steps}
			j.job.Progress = p
			j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Progress{Progress: p}})
			if i%4 == 0 {
				j.add(logEvent(fmt.Sprintf("bar %d of %d: equity 100000000", done, bars)))
			}
		default:
			j.job.Status, j.job.Pid = "finished", 0
			j.job.Progress = &backtestv1.Progress{Fraction: 1, Stage: "done", BarsDone: bars, BarsTotal: bars}
			j.job.ResultUrl = "/api/jobs/" + id + "/result/"
			j.job.FinishedAt = timestamppb.Now()
			j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Progress{Progress: j.job.Progress}})
			j.add(logEvent("finished"))
			j.live = false
			j.add(&backtestv1.StreamJobLogResponse{Event: &backtestv1.StreamJobLogResponse_Status{Status: &backtestv1.StatusChange{Status: "finished"}}})
		}
		f.mu.Unlock()
	}
}

func (f *Backend) GetJob(_ context.Context, req *backtestv1.GetJobRequest) (*backtestv1.GetJobResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	return &backtestv1.GetJobResponse{Job: proto.Clone(j.job).(*backtestv1.Job)}, nil
}

func (f *Backend) ListJobs(_ context.Context, req *backtestv1.ListJobsRequest) (*backtestv1.ListJobsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &backtestv1.ListJobsResponse{}
	for i := len(f.jobOrder) - 1; i >= 0; i-- {
		j := f.jobs[f.jobOrder[i]]
		if req.GetStatus() == "" || req.GetStatus() == j.job.Status {
			resp.Jobs = append(resp.Jobs, proto.Clone(j.job).(*backtestv1.Job))
		}
	}
	return resp, nil
}

func (f *Backend) CancelJob(_ context.Context, req *backtestv1.CancelJobRequest) (*backtestv1.CancelJobResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	if j.job.Status != "queued" && j.job.Status != "running" {
		return nil, status.Errorf(codes.FailedPrecondition, "job %s has already ended (%s)", j.job.JobId, j.job.Status)
	}
	j.job.Status = "cancelled"
	j.job.Error = "cancelled by alice"
	return &backtestv1.CancelJobResponse{Job: proto.Clone(j.job).(*backtestv1.Job)}, nil
}

func (f *Backend) StreamJobLog(req *backtestv1.StreamJobLogRequest, stream grpc.ServerStreamingServer[backtestv1.StreamJobLogResponse]) error {
	f.mu.Lock()
	j, err := f.job(req.GetJobId())
	f.openStreams++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.openStreams--
		f.mu.Unlock()
	}()
	if err != nil {
		return err
	}
	// Headers go out at once, as backtestd's should, so subscribers know the call is accepted.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	next := max(req.GetFromSeq(), 1)
	for {
		f.mu.Lock()
		var batch []*backtestv1.StreamJobLogResponse
		for _, ev := range j.events {
			if ev.Seq >= next && (req.GetIncludeTrace() || ev.GetTrace() == nil) {
				batch = append(batch, proto.Clone(ev).(*backtestv1.StreamJobLogResponse))
			}
		}
		if n := len(j.events); n > 0 {
			next = max(next, j.events[n-1].Seq+1)
		}
		live, changed := j.live, j.changed
		f.mu.Unlock()
		for _, ev := range batch {
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
		if !live {
			return nil
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

func (f *Backend) GetResult(_ context.Context, req *backtestv1.GetResultRequest) (*backtestv1.GetResultResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, err := f.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	if j.job.Status != "finished" {
		return nil, status.Errorf(codes.FailedPrecondition, "job %s is %s; its result is ready once it has finished", req.GetJobId(), j.job.Status)
	}
	full, ok := f.results[j.job.JobId]
	if !ok {
		if j.job.JobId == "job-big" {
			full = Result(j.job.JobId, 1_000_000, time.Minute, 0)
		} else {
			full = Result(j.job.JobId, f.cfg.Bars, time.Hour, 0)
		}
		f.results[j.job.JobId] = full
	}
	return answer(full, req)
}

func (f *Backend) ListParams(_ context.Context, req *backtestv1.ListParamsRequest) (*backtestv1.ListParamsResponse, error) {
	resp := &backtestv1.ListParamsResponse{Groups: groups}
	for _, p := range registry {
		if req.GetStrategy() == "" || p.Strategy == "" || p.Strategy == req.GetStrategy() {
			resp.Params = append(resp.Params, p)
		}
	}
	return resp, nil
}

// --- presets ----------------------------------------------------------------

func (f *Backend) ListPresets(context.Context, *backtestv1.ListPresetsRequest) (*backtestv1.ListPresetsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &backtestv1.ListPresetsResponse{}
	for name := range f.presets {
		resp.Names = append(resp.Names, name)
	}
	sort.Strings(resp.Names)
	return resp, nil
}

func (f *Backend) GetPreset(_ context.Context, req *backtestv1.GetPresetRequest) (*backtestv1.GetPresetResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.presets[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "preset %q not found", req.GetName())
	}
	return &backtestv1.GetPresetResponse{Preset: proto.Clone(p).(*backtestv1.Preset)}, nil
}

func (f *Backend) UpsertPreset(_ context.Context, req *backtestv1.UpsertPresetRequest) (*backtestv1.UpsertPresetResponse, error) {
	if req.GetName() == "" || len(req.GetName()) > 64 {
		return nil, status.Error(codes.InvalidArgument, "name: 1-64 letters, digits, spaces, '.', '_' or '-'")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	values, err := validate(req.GetValues())
	if err != nil {
		return nil, err
	}
	_, existed := f.presets[req.GetName()]
	p := &backtestv1.Preset{Name: req.GetName(), Values: values, UpdatedAt: timestamppb.New(T0)}
	f.presets[p.Name] = p
	return &backtestv1.UpsertPresetResponse{Preset: proto.Clone(p).(*backtestv1.Preset), Created: !existed}, nil
}

func (f *Backend) DeletePreset(_ context.Context, req *backtestv1.DeletePresetRequest) (*backtestv1.DeletePresetResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.presets[req.GetName()]; !ok {
		return nil, status.Errorf(codes.NotFound, "preset %q not found", req.GetName())
	}
	delete(f.presets, req.GetName())
	return &backtestv1.DeletePresetResponse{}, nil
}

// --- trace ------------------------------------------------------------------

func traceRow(seq, bar int32, section string) *backtestv1.TraceRow {
	payload, _ := structpb.NewStruct(map[string]any{"passed": false, "reason": "breakout strength 0.12 ATR < 0.20 ATR required", "atr": 0.31})
	return &backtestv1.TraceRow{Seq: seq, BarIndex: bar, Ts: float64(T0.Unix()) + float64(bar)*3600, Symbol: "XAGUSD", Section: section, Kind: "check", Payload: payload}
}

func (f *Backend) QueryTrace(_ context.Context, req *backtestv1.QueryTraceRequest) (*backtestv1.QueryTraceResponse, error) {
	f.mu.Lock()
	_, err := f.job(req.GetJobId())
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if l := req.GetLimit(); l < 0 || l > 1000 {
		return nil, status.Errorf(codes.InvalidArgument, "limit: must be 1 to 1000, got %d", l)
	}
	rows := []*backtestv1.TraceRow{traceRow(1, 5, "indicators"), traceRow(2, 5, "signal"), traceRow(3, 6, "signal")}
	resp := &backtestv1.QueryTraceResponse{}
	for _, r := range rows {
		if (req.BarIndex == nil || r.BarIndex == req.GetBarIndex()) && (req.GetSection() == "" || r.Section == req.GetSection()) {
			resp.Items = append(resp.Items, r)
		}
	}
	resp.Count = int32(len(resp.Items))
	return resp, nil
}

func (f *Backend) Explain(_ context.Context, req *backtestv1.ExplainRequest) (*backtestv1.ExplainResponse, error) {
	f.mu.Lock()
	_, err := f.job(req.GetJobId())
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if req.BarIndex == nil && req.GetTs() == "" {
		return &backtestv1.ExplainResponse{
			Summary: "1 trade: 40 breakouts filtered by strength, 3 setups cancelled",
			Reasons: []*backtestv1.ReasonCount{{Reason: "filter_strength", Count: 40, SampleBars: []int32{5, 17}, Description: "breakout too weak"}},
		}, nil
	}
	values, _ := structpb.NewStruct(map[string]any{"strength_atr": 0.12, "required_atr": 0.2})
	bar := req.GetBarIndex()
	return &backtestv1.ExplainResponse{
		Summary: "no entry: breakout strength 0.12 ATR < 0.20 ATR required", BarIndex: &bar,
		Ts: float64(T0.Unix()) + float64(bar)*3600, Symbol: "XAGUSD", Traced: true, Values: values,
		// job-big ran untraced: backtestd explains its bars by replaying the run.
		Replayed: req.GetJobId() == "job-big",
		Sections: []*backtestv1.TraceSection{{Section: "signal", Items: []*backtestv1.TraceRow{traceRow(2, bar, "signal")}}},
	}, nil
}
