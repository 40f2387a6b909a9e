// Package argocd_test runs the Argo CD health checks in config/argocd the way
// Argo CD runs them: the object is decoded as the application controller sees
// it (unstructured, integers as int64), converted to a Lua table in the global
// `obj`, and the health.lua script runs under gopher-lua with only the
// libraries Argo CD opens for checks installed through argocd-cm. The table
// the script returns must hold the status and message each health_test.yaml
// case expects.
package argocd_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// healthStatus is what a health.lua returns, and what a health_test.yaml
// case expects, in Argo CD's field names.
type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// validStatuses are the health codes Argo CD accepts from a script; it shows
// anything else as Unknown, "Lua returned an invalid health status".
var validStatuses = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true,
	"Suspended": true, "Missing": true, "Unknown": true,
}

// scriptTimeout is the time Argo CD gives a script before it cancels it.
const scriptTimeout = time.Second

// decodeObject reads a YAML manifest into the form Argo CD's controller holds
// live objects in: unstructured, with whole numbers as int64 and other
// numbers as float64.
func decodeObject(data []byte) (*unstructured.Unstructured, error) {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		return nil, err
	}
	return u, nil
}

// toLua converts a value of an unstructured object as Argo CD does: maps to
// tables keyed by string, lists to tables indexed from 1, numbers to Lua
// numbers, and null to nil (so a null field is absent and a null list item
// is skipped, as in Argo CD).
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetH(lua.LString(key), toLua(l, item))
		}
		return t
	}
	// decodeObject yields only the types above.
	panic(fmt.Sprintf("unexpected %T in an unstructured object", v))
}

// runHealthLua runs a health script on obj and returns the health it
// reports, or an error saying why Argo CD could not use the result.
func runHealthLua(script string, obj *unstructured.Unstructured) (healthStatus, error) {
	// Argo CD opens every standard library only for its bundled checks;
	// checks from argocd-cm get these, unless the user sets
	// resource.customizations.useOpenLibs.<group>_<kind>. (It also opens a
	// reduced os library, which our scripts do not use.)
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return healthStatus{}, fmt.Errorf("opening Lua library %q: %w", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj.Object))

	if err := l.DoString(script); err != nil {
		return healthStatus{}, fmt.Errorf("script failed: %w", err)
	}
	result, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return healthStatus{}, fmt.Errorf("script returned %s, want a table with status and message", l.Get(-1).Type())
	}
	var hs healthStatus
	switch s := result.RawGetString("status").(type) {
	case lua.LString:
		hs.Status = string(s)
	default:
		return healthStatus{}, fmt.Errorf("script returned status %s (%s), want a string", s, s.Type())
	}
	if !validStatuses[hs.Status] {
		return healthStatus{}, fmt.Errorf("script returned status %q, which Argo CD shows as Unknown; want one of Healthy, Progressing, Degraded, Suspended, Missing, Unknown", hs.Status)
	}
	switch m := result.RawGetString("message").(type) {
	case lua.LString:
		hs.Message = string(m)
	default:
		if m != lua.LNil {
			return healthStatus{}, fmt.Errorf("script returned message %s (%s), want a string", m, m.Type())
		}
	}
	return hs, nil
}

func TestObjectToLua(t *testing.T) {
	obj, err := decodeObject([]byte(`
apiVersion: example.com/v1
kind: Example
spec:
  replicas: 3
  ratio: 0.5
  enabled: true
  disabled: false
  nothing: null
  items: [a, {name: b}, [c, d], null, e]
  empty: {}
  emptyList: []
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := runHealthLua(`
local s = obj.spec
local parts = {
  type(s.replicas), tostring(s.replicas), tostring(s.replicas == 3),
  tostring(s.ratio), tostring(s.enabled), tostring(s.disabled), tostring(s.nothing),
  tostring(#s.items), s.items[1], s.items[2].name, s.items[3][2], s.items[4],
  type(s.empty), tostring(#s.emptyList), obj.kind,
}
return {status = "Healthy", message = table.concat(parts, " ")}
`, obj)
	if err != nil {
		t.Fatal(err)
	}
	// The null list item is skipped, as Argo CD's conversion does.
	want := "number 3 true 0.5 true false nil 4 a b d e table 0 Example"
	if got.Message != want {
		t.Errorf("object as seen from Lua:\n got %q\nwant %q", got.Message, want)
	}
}

// TestBrokenScriptsFail makes sure the harness cannot pass a script that Argo
// CD would reject or show as Unknown.
func TestBrokenScriptsFail(t *testing.T) {
	obj, err := decodeObject([]byte("apiVersion: example.com/v1\nkind: Example\nmetadata: {name: x, generation: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ script, wantErr string }{
		"syntax error":        {`return {status = "Healthy"`, "script failed"},
		"runtime error":       {`return {status = obj.status.phase}`, "script failed"},
		"closed library":      {`return {status = "Healthy", message = string.format("%d", 1)}`, "script failed"},
		"endless loop":        {`while true do end`, "script failed"},
		"no table":            {`return "Healthy"`, "want a table"},
		"nothing returned":    {`local x = 1`, "want a table"},
		"status missing":      {`return {message = "fine"}`, "want a string"},
		"status misspelt":     {`return {status = "Healty", message = "fine"}`, "shows as Unknown"},
		"message not string":  {`return {status = "Healthy", message = 3}`, "want a string"},
		"status not a string": {`return {status = true}`, "want a string"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := runHealthLua(tc.script, obj)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("runHealthLua(%q) error = %v, want one containing %q", tc.script, err, tc.wantErr)
			}
		})
	}
}
