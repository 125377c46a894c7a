package devcluster

import "go.uber.org/zap"

func nopZap() *zap.Logger { return zap.NewNop() }
