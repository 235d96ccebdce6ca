package client_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// TestAwaitsLongAnswer: a request marked AwaitsLongAnswer waits for its answer up to
// LongAnswerTimeout, beyond RequestTimeout; other requests do not.
func TestAwaitsLongAnswer(t *testing.T) {
	t.Parallel()
	srv := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(1500 * time.Millisecond) // checks the upload before answering
		_, _ = io.WriteString(w, "accepted")
	}))
	cfg := trusting(srv, fastConfig())
	cfg.RequestTimeout = 300 * time.Millisecond
	cfg.LongAnswerTimeout = time.Minute
	c := newClient(t, cfg)

	resp, err := do(t, c, context.Background(), http.MethodPost, srv.URL+"/upload", "image")
	if err == nil {
		resp.Body.Close()
		t.Fatal("an answer later than RequestTimeout was waited for on an ordinary request")
	}
	resp, err = do(t, c, client.AwaitsLongAnswer(context.Background()), http.MethodPost, srv.URL+"/upload", "image")
	if err != nil {
		t.Fatalf("a request awaiting a long answer gave up before LongAnswerTimeout: %v", err)
	}
	if body := readAll(t, resp); body != "accepted" {
		t.Fatalf("body %q", body)
	}
}
