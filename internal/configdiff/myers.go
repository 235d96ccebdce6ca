package configdiff

import "math"

// changes compares two sequences of line ids and marks the lines of a that are
// removed and the lines of b that are added, by a shortest edit script (or, past
// the cost bound, a short one).
// Ids are dense: 0 <= id < distinct.
func changes(a, b []int32, distinct int) (removed, added []bool) {
	removed, added = make([]bool, len(a)), make([]bool, len(b))
	// Lines found on one side only are changed in every edit script, and leaving
	// them out changes nothing else: compare the others only.
	inA, inB := make([]bool, distinct), make([]bool, distinct)
	for _, id := range a {
		inA[id] = true
	}
	for _, id := range b {
		inB[id] = true
	}
	ra, aIdx := onBothSides(a, inB, removed)
	rb, bIdx := onBothSides(b, inA, added)
	rRemoved, rAdded := make([]bool, len(ra)), make([]bool, len(rb))
	newMyers(ra, rb, rRemoved, rAdded).run()
	for k, r := range rRemoved {
		removed[aIdx[k]] = r
	}
	for k, ad := range rAdded {
		added[bIdx[k]] = ad
	}
	return removed, added
}

// onBothSides returns the ids of x that the other side has and their indexes in x,
// and marks the others in changed.
func onBothSides(x []int32, other []bool, changed []bool) (kept []int32, idx []int) {
	n := 0
	for _, id := range x {
		if other[id] {
			n++
		}
	}
	kept, idx = make([]int32, 0, n), make([]int, 0, n)
	for i, id := range x {
		if other[id] {
			kept = append(kept, id)
			idx = append(idx, i)
		} else {
			changed[i] = true
		}
	}
	return kept, idx
}

// myers finds a shortest edit script between a and b in linear space (Myers 1986,
// section 4b): find the middle of the path from both ends, then solve the two
// halves. The halves wait on an explicit stack, not on Go's.
type myers struct {
	a, b           []int32
	removed, added []bool
	limit          int   // cost bound per split: the largest d searched
	fwd, bwd       []int // furthest x per diagonal, offset by limit+1
}

func newMyers(a, b []int32, removed, added []bool) *myers {
	// As GNU diff: about the square root of the size, but never small.
	limit := max(256, int(2*math.Sqrt(float64(len(a)+len(b)))))
	limit = min(limit, (len(a)+len(b)+1)/2+1)
	return &myers{a: a, b: b, removed: removed, added: added, limit: limit,
		fwd: make([]int, 2*limit+4), bwd: make([]int, 2*limit+4)}
}

type span struct{ aLo, aHi, bLo, bHi int }

func (m *myers) run() {
	stack := []span{{0, len(m.a), 0, len(m.b)}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for s.aLo < s.aHi && s.bLo < s.bHi && m.a[s.aLo] == m.b[s.bLo] {
			s.aLo++
			s.bLo++
		}
		for s.aLo < s.aHi && s.bLo < s.bHi && m.a[s.aHi-1] == m.b[s.bHi-1] {
			s.aHi--
			s.bHi--
		}
		if s.aLo == s.aHi || s.bLo == s.bHi {
			m.markAll(s)
			continue
		}
		x, y := m.split(s)
		// Each half must be smaller than the whole, or the search would not end; a
		// split that is not (it cannot happen, but a loop must not rest on that)
		// marks the span changed as a whole: correct, if not shortest.
		if x == s.aLo && y == s.bLo || x == s.aHi && y == s.bHi || x < s.aLo || x > s.aHi || y < s.bLo || y > s.bHi {
			m.markAll(s)
			continue
		}
		stack = append(stack, span{x, s.aHi, y, s.bHi}, span{s.aLo, x, s.bLo, y})
	}
}

func (m *myers) markAll(s span) {
	for i := s.aLo; i < s.aHi; i++ {
		m.removed[i] = true
	}
	for j := s.bLo; j < s.bHi; j++ {
		m.added[j] = true
	}
}

// split returns a point (x, y) on a shortest path through s, where the paths from
// both ends meet; past m.limit steps, the furthest point the forward search
// reached. s has no common first or last line, and neither side is empty.
func (m *myers) split(s span) (int, int) {
	n, mm := s.aHi-s.aLo, s.bHi-s.bLo
	a, b := m.a[s.aLo:s.aHi], m.b[s.bLo:s.bHi]
	off := m.limit + 1
	maxD := min((n+mm+1)/2, m.limit)
	// Only diagonals -maxD-1..maxD+1 are used: a small span resets a small range.
	for i := off - maxD - 1; i <= off+maxD+1; i++ {
		m.fwd[i], m.bwd[i] = -1, -1
	}
	m.fwd[off+1], m.bwd[off+1] = 0, 0
	delta := n - mm
	odd := delta%2 != 0
	// Diagonals that left the span on one side are not searched any more.
	fStart, fEnd, bStart, bEnd := 0, 0, 0, 0
	for d := 0; d < maxD; d++ {
		for k := -d + fStart; k <= d-fEnd; k += 2 {
			var x int
			if k == -d || k != d && m.fwd[off+k-1] < m.fwd[off+k+1] {
				x = m.fwd[off+k+1] // down: a line of b added
			} else {
				x = m.fwd[off+k-1] + 1 // right: a line of a removed
			}
			y := x - k
			for x < n && y < mm && a[x] == b[y] {
				x++
				y++
			}
			m.fwd[off+k] = x
			switch {
			case x > n:
				fEnd += 2
			case y > mm:
				fStart += 2
			case odd:
				// The backward search has done d-1 rounds.
				if kb := delta - k; kb >= -(d-1) && kb <= d-1 && m.bwd[off+kb] != -1 && x >= n-m.bwd[off+kb] {
					return s.aLo + x, s.bLo + y
				}
			}
		}
		for k := -d + bStart; k <= d-bEnd; k += 2 {
			var x int
			if k == -d || k != d && m.bwd[off+k-1] < m.bwd[off+k+1] {
				x = m.bwd[off+k+1]
			} else {
				x = m.bwd[off+k-1] + 1
			}
			y := x - k
			for x < n && y < mm && a[n-x-1] == b[mm-y-1] {
				x++
				y++
			}
			m.bwd[off+k] = x
			switch {
			case x > n:
				bEnd += 2
			case y > mm:
				bStart += 2
			case !odd:
				// The forward search has done d rounds.
				if kf := delta - k; kf >= -d && kf <= d && m.fwd[off+kf] != -1 && m.fwd[off+kf] >= n-x {
					fx := m.fwd[off+kf]
					return s.aLo + fx, s.bLo + fx - kf
				}
			}
		}
	}
	// Too expensive (or no meeting point within maxD, which only the bound can
	// cause): the forward point that went furthest along both texts.
	bestX, bestY := 0, 0
	for k := -maxD; k <= maxD; k++ {
		x := m.fwd[off+k]
		if x < 0 {
			continue
		}
		y := x - k
		if x <= n && y >= 0 && y <= mm && x+y > bestX+bestY {
			bestX, bestY = x, y
		}
	}
	return s.aLo + bestX, s.bLo + bestY
}
