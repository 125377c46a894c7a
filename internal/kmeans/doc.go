// Package kmeans trains centroids with Lloyd's algorithm: seeded k-means++ or
// sampled initialisation, a parallel assignment step whose result does not
// depend on the number of workers, and L2 or spherical (inner-product)
// variants. It serves IVF coarse partitions and PQ codebooks in
// shard/embtable and per-document clustering in shard/multivec.
//
//	cfg := kmeans.DefaultConfig()
//	cfg.SampleSize = 64 * 256
//	cent, err := kmeans.Train(data, dim, 256, cfg) // 256×dim, row-major
//	if err != nil {
//		return err
//	}
//	c, _ := kmeans.Nearest(query, cent, kmeans.L2)
package kmeans
