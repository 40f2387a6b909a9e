// Command controlplane measures the operator against the API server's own
// limit (`make bench-controlplane`): how long until N TouchpointSources, M
// ValidationRules and K JourneyMaps are all Ready, next to how long a plain
// client takes to create the very objects the operator creates for them;
// then how many writes the operator makes at rest, and its peak RSS.
//
// The manager runs as its own process (bin/journey manager) so its RSS is
// its own. There is no kubelet, so this program marks evaluator Deployments
// available as the deployment controller would.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/cmd/manager"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/testutil"
)

func main() {
	sources := flag.Int("sources", 500, "TouchpointSources")
	rules := flag.Int("rules", 50, "ValidationRules")
	maps := flag.Int("maps", 50, "JourneyMaps")
	rest := flag.Duration("rest", time.Minute, "how long to count writes at rest")
	binary := flag.String("journey", "bin/journey", "the journey binary")
	flag.Parse()
	if err := run(*sources, *rules, *maps, *rest, *binary); err != nil {
		fmt.Fprintln(os.Stderr, "bench-controlplane:", err)
		os.Exit(1)
	}
}

func run(nSources, nRules, nMaps int, rest time.Duration, binary string) error {
	ctx := context.Background()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting envtest (KUBEBUILDER_ASSETS=%q): %w", os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	defer func() { _ = env.Stop() }()
	scheme, err := manager.NewScheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}

	groups := max(nRules, nMaps, 1)
	srcs := make([]*v1alpha1.TouchpointSource, nSources)
	for i := range srcs {
		srcs[i] = source(i, groups)
	}

	// Baseline: a plain client creating what the operator creates.
	base := "baseline"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: base}}); err != nil {
		return err
	}
	opts := render.Options{Image: "journey:bench", StoreSecret: v1alpha1.SecretKeyRef{Name: "journey-store", Key: "dsn"}}
	start := time.Now()
	objects := 0
	for _, s := range srcs {
		s := s.DeepCopy()
		s.Namespace = base
		s.UID = types.UID("uid-" + s.Name)
		cm, hash, err := render.SourceConfigMap(s, nil)
		if err != nil {
			return err
		}
		for _, o := range []client.Object{render.SourceServiceAccount(s), cm, render.IngestCronJob(s, hash, opts)} {
			if err := c.Create(ctx, o); err != nil {
				return err
			}
			objects++
		}
	}
	for i := 0; i < nMaps; i++ {
		jm := journeyMap(i)
		jm.Namespace = base
		jm.UID = types.UID("uid-" + jm.Name)
		cm, hash, err := render.JourneyConfigMap(jm, nil)
		if err != nil {
			return err
		}
		for _, o := range []client.Object{render.EvaluatorServiceAccount(jm), render.EvaluatorRole(jm), render.EvaluatorRoleBinding(jm),
			cm, render.EvaluatorDeployment(jm, hash, opts), render.EvaluatorService(jm)} {
			if err := c.Create(ctx, o); err != nil {
				return err
			}
			objects++
		}
	}
	baseline := time.Since(start)

	// The operator, as its own process.
	kubeconfig, err := writeKubeconfig(env)
	if err != nil {
		return err
	}
	// The admission webhooks are off: envtest registers none, and what is
	// measured is the reconcilers' work, not admission's.
	mgr := exec.Command(binary, "manager", "--kubeconfig", kubeconfig, "--metrics-bind-address=0",
		"--health-probe-bind-address=0", "--enable-webhooks=false", "--image=journey:bench", "--zap-log-level=error")
	mgr.Stdout, mgr.Stderr = os.Stderr, os.Stderr
	if err := mgr.Start(); err != nil {
		return fmt.Errorf("starting %s (build it with `make build`): %w", binary, err)
	}
	// A manager that exits ends the benchmark at once, with its error,
	// rather than after the wait for Ready times out.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	exited := make(chan struct{})
	go func() {
		err := mgr.Wait()
		stop(fmt.Errorf("the manager exited: %v", err))
		close(exited)
	}()
	defer func() { _ = mgr.Process.Kill(); <-exited }()

	ns := "bench"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "journey-store"},
		StringData: map[string]string{"dsn": "postgres://bench"}}); err != nil {
		return err
	}
	start = time.Now()
	for _, s := range srcs {
		s.Namespace = ns
		if err := c.Create(ctx, s); err != nil {
			return err
		}
	}
	for i := 0; i < nRules; i++ {
		if err := c.Create(ctx, rule(i, ns)); err != nil {
			return err
		}
	}
	for i := 0; i < nMaps; i++ {
		jm := journeyMap(i)
		jm.Namespace = ns
		if err := c.Create(ctx, jm); err != nil {
			return err
		}
	}
	toReady, err := waitReady(ctx, c, ns, nSources+nRules+nMaps, 10*time.Minute)
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	if err != nil {
		return err
	}

	// Ready is per object; a rule created after a source may still be on its
	// way into that source's configuration. Converged: a 5s window without
	// a single write.
	converged, err := waitQuiet(ctx, c, ns, 5*time.Second, 10*time.Minute)
	if err != nil {
		return err
	}
	converged += toReady
	before, err := versions(ctx, c, ns)
	if err != nil {
		return err
	}
	time.Sleep(rest)
	after, err := versions(ctx, c, ns)
	if err != nil {
		return err
	}
	writes := 0
	for k, v := range after {
		if before[k] != v {
			writes++
			if writes <= 10 {
				fmt.Fprintf(os.Stderr, "  written at rest: %s (%s -> %s)\n", k, before[k], v)
			}
		}
	}
	rss, err := testutil.PeakRSS(mgr.Process.Pid)
	if err != nil {
		return err
	}

	fmt.Printf("bench-controlplane: %d TouchpointSources, %d ValidationRules, %d JourneyMaps (envtest, kube-apiserver %s)\n",
		nSources, nRules, nMaps, "v1.37.2")
	fmt.Printf("  baseline: plain client creates the %d objects the operator creates   %8.2fs\n", objects, baseline.Seconds())
	fmt.Printf("  operator: create the resources, then all Ready                        %8.2fs\n", toReady.Seconds())
	fmt.Printf("  ratio operator / baseline                                             %8.2f\n", toReady.Seconds()/baseline.Seconds())
	fmt.Printf("  operator: converged (no write for 5s, the 5s not counted)             %8.2fs\n", converged.Seconds())
	fmt.Printf("  writes at rest over %s (objects whose resourceVersion moved)          %8d  (%.1f per minute)\n",
		rest, writes, float64(writes)/rest.Minutes())
	fmt.Printf("  manager peak RSS (VmHWM)                                              %8.1f MiB\n", float64(rss)/(1<<20))
	return nil
}

func source(i, groups int) *v1alpha1.TouchpointSource {
	return &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("src-%04d", i), Labels: map[string]string{"group": strconv.Itoa(i % groups)}},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: []string{"catalog", "playback", "billing", "support", "crm"}[i%5],
			Batch:      &v1alpha1.BatchSource{Schedule: "*/15 * * * *", HTTP: &v1alpha1.HTTPConnector{URL: "https://events.example.internal/v1"}},
			Mapping: v1alpha1.EventMapping{EventID: "record.id", UserID: "record.user", OccurredAt: "timestamp(record.at)", Type: "record.type",
				Amount: "double(record.amount) / 100.0"},
		},
	}
}

func rule(i int, ns string) *v1alpha1.ValidationRule {
	return &v1alpha1.ValidationRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("rule-%03d", i)},
		Spec: v1alpha1.ValidationRuleSpec{
			SourceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"group": strconv.Itoa(i)}},
			Checks: []v1alpha1.Check{
				{Name: "amount", Expression: "event.amount == null || event.amount >= 0.0", Action: v1alpha1.ActionQuarantine},
				{Name: "user", NotNull: []v1alpha1.Expression{"event.userID"}, Action: v1alpha1.ActionReject},
				{Name: "unique", Unique: &v1alpha1.UniqueCheck{Key: "record.id"}, Action: v1alpha1.ActionQuarantine},
			},
		},
	}
}

func journeyMap(i int) *v1alpha1.JourneyMap {
	return &v1alpha1.JourneyMap{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("journey-%03d", i)},
		Spec: v1alpha1.JourneyMapSpec{
			SourceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"group": strconv.Itoa(i)}},
			Stages: []v1alpha1.Stage{
				{Name: "Trial", EnterWhen: `event.type == "trial_started"`},
				{Name: "Subscribed", EnterWhen: `event.type == "invoice.paid"`},
				{Name: "AtRisk", EnterWhen: `user.count("billing", "invoice.payment_failed", duration("720h")) > 0`},
			},
		},
	}
}

// waitReady polls until want resources are Ready, marking evaluator
// Deployments available as they appear.
func waitReady(ctx context.Context, c client.Client, ns string, want int, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		var deps appsv1.DeploymentList
		if err := c.List(ctx, &deps, client.InNamespace(ns)); err != nil {
			return 0, err
		}
		for i := range deps.Items {
			d := &deps.Items[i]
			if d.Status.ObservedGeneration != d.Generation {
				d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
					Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "Bench",
						LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}
				_ = c.Status().Update(ctx, d) // a conflict is retried on the next poll
			}
		}
		ready := 0
		var s v1alpha1.TouchpointSourceList
		var r v1alpha1.ValidationRuleList
		var m v1alpha1.JourneyMapList
		if err := c.List(ctx, &s, client.InNamespace(ns)); err != nil {
			return 0, err
		}
		if err := c.List(ctx, &r, client.InNamespace(ns)); err != nil {
			return 0, err
		}
		if err := c.List(ctx, &m, client.InNamespace(ns)); err != nil {
			return 0, err
		}
		for i := range s.Items {
			ready += readyCount(&s.Items[i], s.Items[i].Generation)
		}
		for i := range r.Items {
			ready += readyCount(&r.Items[i], r.Items[i].Generation)
		}
		for i := range m.Items {
			ready += readyCount(&m.Items[i], m.Items[i].Generation)
		}
		if ready == want {
			return time.Since(start), nil
		}
		// Polling is coarse on purpose: listing 600 objects steals CPU from
		// the API server being measured.
		time.Sleep(time.Second)
	}
	return 0, fmt.Errorf("not all %d resources Ready after %s", want, limit)
}

// waitQuiet returns how long until a window of quiet with no write in ns.
func waitQuiet(ctx context.Context, c client.Client, ns string, quiet, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	last, err := versions(ctx, c, ns)
	if err != nil {
		return 0, err
	}
	lastChange := time.Now()
	for time.Since(start) < limit {
		time.Sleep(time.Second)
		now, err := versions(ctx, c, ns)
		if err != nil {
			return 0, err
		}
		if fmt.Sprint(now) != fmt.Sprint(last) {
			last, lastChange = now, time.Now()
		}
		if time.Since(lastChange) >= quiet {
			return lastChange.Sub(start), nil
		}
	}
	return 0, fmt.Errorf("still writing after %s", limit)
}

func readyCount(o interface{ GetConditions() []metav1.Condition }, gen int64) int {
	for _, c := range o.GetConditions() {
		if c.Type == v1alpha1.ConditionReady && c.Status == metav1.ConditionTrue && c.ObservedGeneration == gen {
			return 1
		}
	}
	return 0
}

// versions maps every object the operator reads or writes in ns to its
// resourceVersion.
func versions(ctx context.Context, c client.Client, ns string) (map[string]string, error) {
	out := map[string]string{}
	lists := []client.ObjectList{&v1alpha1.TouchpointSourceList{}, &v1alpha1.ValidationRuleList{}, &v1alpha1.JourneyMapList{},
		&corev1.ConfigMapList{}, &corev1.ServiceAccountList{}, &corev1.ServiceList{}, &appsv1.DeploymentList{}}
	for _, l := range lists {
		if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		items, err := testutil.MetaItems(l)
		if err != nil {
			return nil, err
		}
		for _, o := range items {
			out[fmt.Sprintf("%T/%s", l, o.GetName())] = o.GetResourceVersion() + " " + o.GetAnnotations()[render.AnnotationConfig]
		}
	}
	return out, nil
}

func writeKubeconfig(env *envtest.Environment) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "bench-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "bench-kubeconfig-*")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.Write(data)
	return f.Name(), err
}
