package image

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The import into containerd skips, without a word, an image whose config
// lacks os or architecture; the pods then fail with ErrImageNeverPull. So
// what Write declares is checked here, by reading the tarball back.
func TestWriteDeclaresPlatformEntrypointAndUser(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tool")
	if err := os.WriteFile(bin, []byte("#!not-really-a-binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "img.tar")
	spec := Spec{Ref: "e2e.local/tool:e2e", Binary: bin, Path: "/tool", User: "65532:65532", Args: []string{"serve"}}
	if err := Write(spec, out); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(spec.Ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("the tarball does not hold %s: %v", spec.Ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	if got := cfg.Config.Entrypoint; len(got) != 2 || got[0] != "/tool" || got[1] != "serve" {
		t.Errorf("entrypoint %q, want [/tool serve]", got)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (restricted pods run as non-root)", cfg.Config.User)
	}

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
	}
	if h := files["tool"]; h == nil || h.Mode&0o111 == 0 {
		t.Errorf("the layer's /tool is %+v, want an executable file", h)
	}
	if h := files["tmp/"]; h == nil || h.Mode&0o1777 != 0o1777 {
		t.Errorf("the layer's /tmp is %+v, want a world-writable sticky directory", h)
	}
}
