//go:build amd64 && !purego

#include "textflag.h"

// func dotPackedAVX2(ps *uint32, n int, q *float32) float32
//
// Σ q[ps[j]&0xffff] · half(ps[j]>>16)·2^-112 over n entries, n a multiple
// of 16: eight lanes gather the query weights, the half floats move to
// their float32 places by an arithmetic shift and a mask (see dotPacked).
TEXT ·dotPackedAVX2(SB), NOSPLIT, $0-28
	MOVQ ps+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ q+16(FP), DI
	VPCMPEQD Y15, Y15, Y15
	VPSRLD $16, Y15, Y14
	MOVL $0x8fffe000, AX
	MOVQ AX, X13
	VPBROADCASTD X13, Y13
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ BX, BX

loop:
	CMPQ BX, CX
	JGE  done
	VMOVDQU (SI)(BX*4), Y2
	VMOVDQU 32(SI)(BX*4), Y6
	VPAND Y14, Y2, Y3
	VPAND Y14, Y6, Y7
	VPCMPEQD Y4, Y4, Y4
	VPCMPEQD Y8, Y8, Y8
	VXORPS Y5, Y5, Y5
	VXORPS Y9, Y9, Y9
	VGATHERDPS Y4, (DI)(Y3*4), Y5
	VGATHERDPS Y8, (DI)(Y7*4), Y9
	VPSRAD $3, Y2, Y2
	VPSRAD $3, Y6, Y6
	VPAND Y13, Y2, Y2
	VPAND Y13, Y6, Y6
	VFMADD231PS Y5, Y2, Y0
	VFMADD231PS Y9, Y6, Y1
	ADDQ $16, BX
	JMP  loop

done:
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func sum16AVX2(ts *uint16, codes *uint8, n int, q *float32) (sq, sc float32)
//
// Σ q[ts[j]] and Σ q[ts[j]]·codes[j] over n entries, n a multiple of 8.
TEXT ·sum16AVX2(SB), NOSPLIT, $0-40
	MOVQ ts+0(FP), SI
	MOVQ codes+8(FP), DX
	MOVQ n+16(FP), CX
	MOVQ q+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ BX, BX

sloop:
	CMPQ BX, CX
	JGE  sdone
	VPMOVZXWD (SI)(BX*2), Y2
	VPCMPEQD Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VGATHERDPS Y4, (DI)(Y2*4), Y5
	VPMOVZXBD (DX)(BX*1), Y6
	VCVTDQ2PS Y6, Y6
	VADDPS Y5, Y0, Y0
	VFMADD231PS Y6, Y5, Y1
	ADDQ $8, BX
	JMP  sloop

sdone:
	VEXTRACTF128 $1, Y0, X2
	VADDPS X2, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VEXTRACTF128 $1, Y1, X3
	VADDPS X3, X1, X1
	VHADDPS X1, X1, X1
	VHADDPS X1, X1, X1
	VZEROUPPER
	MOVSS X0, sq+32(FP)
	MOVSS X1, sc+36(FP)
	RET
