// Command bench measures this library against the other Go Redis lock
// libraries and against a floor that sends the same commands with no lock
// library, in one process and one run, on redis-server processes it starts
// on loopback and stops at exit. It writes a markdown report and an SVG
// chart. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	short := flag.Bool("short", false, "fewer and shorter passes and a smaller keep-alive figure (about 2½ minutes)")
	out := flag.String("out", "RESULTS.md", "markdown report to write")
	svg := flag.String("svg", "results.svg", "SVG chart to write")
	only := flag.String("only", "", "comma-separated contender names to measure (default: all)")
	figures := flag.String("figures", "", "comma-separated figures to measure: "+strings.Join(figureNames, ", ")+" (default: all)")
	flag.Parse()
	if err := run(*short, *out, *svg, *only, *figures); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(short bool, out, svg, only, figures string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := fullConfig
	if short {
		cfg = shortConfig
	}
	cs := contenders()
	if only != "" {
		names := strings.Split(only, ",")
		cs = slices.DeleteFunc(cs, func(c contender) bool { return !slices.Contains(names, c.name) })
		if len(cs) == 0 {
			return fmt.Errorf("-only %q names no contender", only)
		}
	}

	var figs []string
	if figures != "" {
		figs = strings.Split(figures, ",")
		for _, f := range figs {
			if !slices.Contains(figureNames, f) {
				return fmt.Errorf("-figures: unknown figure %q (known: %s)", f, strings.Join(figureNames, ", "))
			}
		}
	}

	began := time.Now()
	code := codeState()
	cl, err := startCluster(slices.Max(cfg.ns))
	if err != nil {
		return err
	}
	defer cl.stop()

	r := &runner{cfg: cfg, cluster: cl, log: os.Stderr, figures: figs, samples: make([]time.Duration, 0, 1<<20)}
	results, keep, err := r.run(ctx, cs)
	if err != nil {
		return err
	}
	env := describe(cl, cfg, short, code, time.Since(began))
	chartPath, err := filepath.Rel(filepath.Dir(out), svg)
	if err != nil {
		chartPath = svg
	}
	if err := os.WriteFile(out, []byte(markdown(env, cfg, results, keep, filepath.ToSlash(chartPath))), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(svg, []byte(chart(env, cfg, results, keep)), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s in %v\n", out, svg, time.Since(began).Round(time.Second))
	return nil
}
