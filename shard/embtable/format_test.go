package embtable

import (
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the format fixtures in testdata/")

// fixtureConfigs are the tables kept as version-1 fixtures: every codec, one
// IVF table and one IP table.
func fixtureConfigs() map[string]Config {
	out := map[string]Config{}
	for c := F32; c < numCodecs; c++ {
		cfg := DefaultConfig()
		cfg.Codec, cfg.Metric, cfg.PQM, cfg.TrainSample, cfg.KMeansIters = c, L2, 4, 0, 4
		out["v1_"+c.String()] = cfg
	}
	cfg := DefaultConfig()
	cfg.Codec, cfg.Metric, cfg.NList, cfg.Rescore = RaBitQ, IP, 3, RescoreF16
	out["v1_ivf_rabitq_ip"] = cfg
	cfg = DefaultConfig()
	cfg.Codec, cfg.Metric, cfg.NList, cfg.PQM = PQ, Cosine, 3, 5
	out["v1_ivf_pq_cosine"] = cfg
	return out
}

func fixtureData() []float32 { return synth(40, 10, 11) }

func TestFormatFixtures(t *testing.T) {
	data := fixtureData()
	for name, cfg := range fixtureConfigs() {
		path := filepath.Join("testdata", name+".emb")
		built, err := Build(data, 10, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := built.Save(path); err != nil {
				t.Fatal(err)
			}
		}
		opened, err := Open(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(built.AppendBinary(nil)) != string(raw) {
			t.Errorf("%s: a fresh build no longer encodes to the fixture", name)
		}
		if got, want := opened.RescorePrecision(), built.RescorePrecision(); got != want {
			t.Errorf("%s: rescoring precision %s after Open, want %s", name, got, want)
		}
		p := SearchParams{NProbe: 3, Oversample: 3, Rescore: true}
		for _, rescore := range []bool{false, true} {
			p.Rescore = rescore
			for i := 0; i < 5; i++ {
				q := data[i*10 : (i+1)*10]
				a := opened.Search(q, 5, p, nil, nil)
				b := built.Search(q, 5, p, nil, nil)
				if len(a) != len(b) {
					t.Fatalf("%s: %d results after Open, %d before", name, len(a), len(b))
				}
				for j := range a {
					if a[j] != b[j] {
						t.Errorf("%s query %d rank %d: %+v after Open, %+v before", name, i, j, a[j], b[j])
					}
				}
			}
		}
		if err := opened.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	tab, err := Build(fixtureData(), 10, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	raw := tab.AppendBinary(nil)
	bad := append([]byte(nil), raw...)
	bad[len(bad)/2] ^= 1
	ver := append([]byte(nil), raw...)
	ver[8] = 9
	for name, b := range map[string][]byte{"empty": nil, "flipped bit": bad, "version": ver, "truncated": raw[:len(raw)-9]} {
		if _, err := Decode(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v, want ErrFormat", name, err)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "t.emb")
	if err := tab.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".rescore", []byte("SHOALRSC short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrFormat) {
		t.Errorf("short rescoring file: got %v, want ErrFormat", err)
	}
}

func FuzzDecode(f *testing.F) {
	for name := range fixtureConfigs() {
		raw, err := os.ReadFile(filepath.Join("testdata", name+".emb"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, true)
	}
	f.Add([]byte("SHOALEMB"), false)
	q := fixtureData()[:10]
	f.Fuzz(func(t *testing.T, raw []byte, fixCRC bool) {
		if fixCRC && len(raw) >= 4 {
			// Let mutations reach the structural checks behind the checksum.
			raw = binary.LittleEndian.AppendUint32(raw[:len(raw)-4:len(raw)-4], crc32.ChecksumIEEE(raw[:len(raw)-4]))
		}
		tab, err := Decode(raw)
		if err != nil {
			return
		}
		// Whatever decodes must search without panicking.
		tab.Search(q, 3, SearchParams{NProbe: 2, Oversample: 2}, nil, nil)
		_ = tab.AppendBinary(nil)
	})
}

func FuzzAttachRescore(f *testing.F) {
	tab, err := Build(fixtureData(), 10, DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tab.appendRescore(nil), false)
	f.Add(tab.appendRescore(nil), true)
	if raw, err := os.ReadFile(filepath.Join("testdata", "v1_sq8.emb.rescore")); err == nil {
		f.Add(raw, false) // version 1, no checksum
	}
	f.Add([]byte("SHOALRSC"), false)
	f.Fuzz(func(t *testing.T, raw []byte, fixCRC bool) {
		if fixCRC && len(raw) >= rescoreHeader {
			// Let mutations reach the checks behind the checksum.
			raw = append([]byte(nil), raw...)
			binary.LittleEndian.PutUint32(raw[28:], rescoreChecksum(raw))
		}
		c, err := Decode(tab.AppendBinary(nil))
		if err != nil {
			t.Fatal(err)
		}
		if c.attachRescore(raw) == nil {
			c.Search(fixtureData()[:10], 3, SearchParams{Oversample: 2, Rescore: true}, nil, nil)
		}
	})
}

// TestChecksums flips a value byte in a saved table file and in its
// rescoring copy (version 2, checksummed) and checks that Open rejects both
// with ErrChecksum and names the file.
func TestChecksums(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Codec, cfg.Rescore = SQ8, RescoreF32
	tab, err := Build(fixtureData(), 10, cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "t.emb")
	if err := tab.Save(path); err != nil {
		t.Fatal(err)
	}
	good, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	good.Close()
	for _, file := range []string{path, path + ".rescore"} {
		orig, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range []int{rescoreHeader + 1, len(orig) / 2, len(orig) - 6} {
			bad := append([]byte(nil), orig...)
			bad[off] ^= 0x40
			if err := os.WriteFile(file, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path)
			if !errors.Is(err, ErrFormat) || !errors.Is(err, ErrChecksum) {
				t.Fatalf("%s byte %d flipped: got %v, want ErrFormat and ErrChecksum", file, off, err)
			}
			if !strings.Contains(err.Error(), file) {
				t.Errorf("error %q does not name %s", err, file)
			}
		}
		if err := os.WriteFile(file, orig, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
