// Package image writes a static binary into an OCI image saved as a
// docker-archive tarball, which containerd imports without a registry.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Spec is one image: a binary at /Path, run as User.
type Spec struct {
	// Ref names the image, e.g. "ghcr.io/cjm-dev/journey-operator:e2e".
	Ref string
	// Binary is the static binary's path on this machine.
	Binary string
	// Path is where it lands in the image, e.g. "/journey".
	Path string
	// User is the image's USER, e.g. "65532:65532" (empty: root, as the
	// pause image runs).
	User string
	// Args are the image's ENTRYPOINT after Path.
	Args []string
}

// Write saves the image as a docker-archive tarball at out. The image's
// os and architecture are set: containerd's import skips an image
// without them, silently.
func Write(s Spec, out string) error {
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return fmt.Errorf("image %s: %w", s.Ref, err)
	}
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	epoch := time.Unix(0, 0)
	for _, dir := range []string{"tmp/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o1777, ModTime: epoch}); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: s.Path[1:], Mode: 0o755, Size: int64(len(bin)), ModTime: epoch}); err != nil {
		return err
	}
	if _, err := tw.Write(bin); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil
	})
	if err != nil {
		return fmt.Errorf("image %s: layer: %w", s.Ref, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return fmt.Errorf("image %s: %w", s.Ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config.Entrypoint = append([]string{s.Path}, s.Args...)
	cfg.Config.User = s.User
	cfg.Config.WorkingDir = "/"
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return fmt.Errorf("image %s: config: %w", s.Ref, err)
	}
	ref, err := name.ParseReference(s.Ref)
	if err != nil {
		return fmt.Errorf("image %s: %w", s.Ref, err)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := tarball.Write(ref, img, f); err != nil {
		f.Close()
		return fmt.Errorf("image %s: writing %s: %w", s.Ref, out, err)
	}
	return f.Close()
}
