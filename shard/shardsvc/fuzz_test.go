package shardsvc

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/shoal-search/shoal/internal/wire"
	"github.com/shoal-search/shoal/shard"
)

var fuzzSchema = shard.Schema{SparseMaxTerm: 100, DenseDim: 3, MultiDim: 2,
	Attributes: map[string]shard.AttrKind{"lang": shard.AttrKeyword}}

// FuzzWireMessages feeds arbitrary bytes to the node's decoders: whatever
// decodes must convert and validate without panicking, and whatever
// validates must encode as a replicated command that applies.
func FuzzWireMessages(f *testing.F) {
	w, _ := proto.Marshal(&wire.WriteRequest{Version: 1, Ops: []*wire.Op{{Upsert: &wire.Document{Id: "a",
		Sparse: &wire.SparseVector{Indices: []uint32{1, 5}, Values: []float32{1, 2}}, Dense: []float32{1, 2, 3},
		Attrs: map[string]*wire.Attr{"lang": {Value: &wire.Attr_Keyword{Keyword: "en"}}}}}, {DeleteId: "b"}}})
	s, _ := proto.Marshal(&wire.SearchRequest{Version: 1, K: 10, Dense: []float32{1, 2, 3},
		Filter: []*wire.Cond{{Field: "lang", Any: []*wire.Attr{{Value: &wire.Attr_Keyword{Keyword: "en"}}}}}})
	f.Add(w)
	f.Add(s)
	f.Add([]byte{0xff, 0x01})
	f.Fuzz(func(t *testing.T, p []byte) {
		eng, _ := shard.New(fuzzSchema)
		var wr wire.WriteRequest
		if proto.Unmarshal(p, &wr) == nil {
			b := shard.Batch{}
			ok := len(wr.Ops) > 0
			for _, op := range wr.Ops {
				if op.Upsert != nil {
					d := DocumentFromWire(op.Upsert)
					if fuzzSchema.Validate(d) != nil {
						ok = false
					}
					b.Ops = append(b.Ops, shard.Op{Doc: d})
				} else {
					if op.DeleteId == "" {
						ok = false
					}
					b.Ops = append(b.Ops, shard.Op{DeleteID: op.DeleteId})
				}
			}
			if ok {
				cmd, err := shard.EncodeBatch(b)
				if err == nil {
					if _, err := eng.Apply(1, cmd); err != nil {
						t.Fatalf("validated batch failed to apply: %v", err)
					}
				}
			}
		}
		var sr wire.SearchRequest
		if proto.Unmarshal(p, &sr) == nil {
			_, _ = eng.Search(t.Context(), QueryFromWire(&sr))
		}
	})
}
