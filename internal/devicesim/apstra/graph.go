package apstra

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// A blueprint's graph is never stored: every node and relationship is a function of
// the blueprint's seed, its index and the few changes a test made, so a graph of any
// size streams in constant memory and is byte-identical between requests until it
// changes.
//
// Node indexes: [0, M) deployed managed systems, [M, M+U) unmanaged systems,
// [M+U, M+U+S) managed systems in staging only, then filler nodes (interfaces,
// links, virtual networks, tags) up to Nodes.

type blueprint struct {
	id              string
	n               int // position in the server's list, from 1
	seed            uint64
	cfg             BlueprintConfig
	version         int // staging version
	deployedVersion int
	created         time.Time
	lastModified    time.Time
	revisions       []revision
	changed         map[int]int // managed system index → configuration generation
	nextChange      int
}

type revision struct {
	id          int
	description string
	created     time.Time
}

func newBlueprint(server [8]byte, n int, cfg BlueprintConfig, now time.Time) *blueprint {
	seed := seedFor(server, "blueprint", strconv.Itoa(n), cfg.Label)
	var idBytes [16]byte
	for i := range 2 {
		v := mix(seed + uint64(i))
		for b := range 8 {
			idBytes[i*8+b] = byte(v >> (8 * b))
		}
	}
	idBytes[6] = idBytes[6]&0x0f | 0x40
	idBytes[8] = idBytes[8]&0x3f | 0x80
	created := now.Add(-time.Duration(30+n) * 24 * time.Hour).UTC().Truncate(time.Second)
	bp := &blueprint{
		id: devicesim.FormatUUID(idBytes), n: n, seed: seed, cfg: cfg,
		version: 7 + n, deployedVersion: 7 + n,
		created: created, lastModified: created.Add(time.Hour),
		changed: map[int]int{},
	}
	bp.revisions = []revision{
		{id: 1, description: "initial deploy", created: created},
		{id: 2, description: "add virtual networks", created: created.Add(time.Hour)},
	}
	if cfg.StagingOnlySystems > 0 {
		bp.version++ // the new systems are committed to staging, not deployed yet
	}
	return bp
}

func (bp *blueprint) clone() blueprint {
	c := *bp
	c.revisions = append([]revision(nil), bp.revisions...)
	c.changed = maps.Clone(bp.changed)
	return c
}

// change bumps the version, records a revision and changes the managed systems at
// idx; it returns their ids.
func (bp *blueprint) change(idx []int, now time.Time) []string {
	bp.version++
	bp.deployedVersion++
	bp.lastModified = now.UTC().Truncate(time.Second)
	last := bp.revisions[len(bp.revisions)-1].id
	bp.revisions = append(bp.revisions, revision{id: last + 1, description: fmt.Sprintf("change %d systems", len(idx)), created: bp.lastModified})
	ids := make([]string, 0, len(idx))
	for _, i := range idx {
		bp.changed[i]++
		ids = append(ids, bp.nodeID(i))
	}
	return ids
}

func (bp *blueprint) systems() int {
	return bp.cfg.ManagedSystems + bp.cfg.UnmanagedSystems + bp.cfg.StagingOnlySystems
}

func (bp *blueprint) info() BlueprintInfo {
	bi := BlueprintInfo{
		ID: bp.id, Label: bp.cfg.Label, Design: bp.cfg.Design, Version: bp.version,
		Nodes: bp.cfg.Nodes, Relationships: bp.cfg.Relationships,
	}
	for i := range bp.systems() {
		switch bp.systemKind(i) {
		case sysManaged:
			bi.Managed = append(bi.Managed, bp.nodeID(i))
		case sysUnmanaged:
			bi.Unmanaged = append(bi.Unmanaged, bp.nodeID(i))
		case sysStagingOnly:
			bi.StagingOnly = append(bi.StagingOnly, bp.nodeID(i))
		}
	}
	return bi
}

type systemKind int

const (
	sysNone systemKind = iota
	sysManaged
	sysUnmanaged
	sysStagingOnly
)

func (bp *blueprint) systemKind(i int) systemKind {
	m, u, s := bp.cfg.ManagedSystems, bp.cfg.UnmanagedSystems, bp.cfg.StagingOnlySystems
	switch {
	case i < 0:
		return sysNone
	case i < m:
		return sysManaged
	case i < m+u:
		return sysUnmanaged
	case i < m+u+s:
		return sysStagingOnly
	}
	return sysNone
}

// mix is a bijection on uint64 (the splitmix64 finaliser); unmix is its inverse.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func unmix(x uint64) uint64 {
	x = unxorshift(x, 31)
	x *= inverse(0x94d049bb133111eb)
	x = unxorshift(x, 27)
	x *= inverse(0xbf58476d1ce4e5b9)
	x = unxorshift(x, 30)
	return x
}

func unxorshift(x uint64, s uint) uint64 {
	y := x
	for range 64 / s {
		y = x ^ y>>s
	}
	return y
}

// inverse is the multiplicative inverse of an odd a modulo 2^64 (Newton's method).
func inverse(a uint64) uint64 {
	x := a
	for range 5 {
		x *= 2 - a*x
	}
	return x
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendID writes v as 11 base62 digits (the width of any uint64).
func appendID(dst []byte, v uint64) []byte {
	var b [11]byte
	for i := 10; i >= 0; i-- {
		b[i] = base62[v%62]
		v /= 62
	}
	return append(dst, b[:]...)
}

func parseID(s string) (uint64, bool) {
	if len(s) != 11 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(base62, s[i])
		if d < 0 {
			return 0, false
		}
		hi := v * 62
		if hi/62 != v {
			return 0, false
		}
		v = hi + uint64(d)
		if v < hi {
			return 0, false
		}
	}
	return v, true
}

const relSalt = 0x5bd1e9955bd1e995

func (bp *blueprint) appendNodeID(dst []byte, i int) []byte {
	return appendID(dst, mix(uint64(i)^bp.seed))
}

func (bp *blueprint) nodeID(i int) string { return string(bp.appendNodeID(nil, i)) }

// nodeIndex finds a node by id.
func (bp *blueprint) nodeIndex(id string) (int, bool) {
	v, ok := parseID(id)
	if !ok {
		return 0, false
	}
	i := unmix(v) ^ bp.seed
	if i >= uint64(bp.cfg.Nodes) {
		return 0, false
	}
	return int(i), true
}

// graphWriter buffers JSON on its way to the client. With a cut, it stops after
// that many bytes and reports errCut.
type graphWriter struct {
	w       io.Writer
	buf     []byte
	written int64
	cut     int64
	err     error
}

var errCut = errors.New("download cut on purpose")

const graphChunk = 32 << 10

func newGraphWriter(w io.Writer, cut int64) *graphWriter {
	return &graphWriter{w: w, buf: make([]byte, 0, graphChunk+4096), cut: cut}
}

// maybeFlush sends the buffer once it holds a chunk.
func (g *graphWriter) maybeFlush() bool {
	if len(g.buf) >= graphChunk {
		_ = g.flush()
	}
	return g.err == nil
}

func (g *graphWriter) flush() error {
	if g.err != nil || len(g.buf) == 0 {
		return g.err
	}
	out := g.buf
	if g.cut > 0 && g.written+int64(len(out)) >= g.cut {
		out = out[:g.cut-g.written]
		g.err = errCut
	}
	n, err := g.w.Write(out)
	g.written += int64(n)
	if err != nil {
		g.err = err
	}
	g.buf = g.buf[:0]
	return g.err
}

// nodeFilter selects nodes by type ("" for all).
type nodeFilter struct{ nodeType string }

// writeGraph writes the staging graph: the document GET /api/blueprints/{id} answers.
func (bp *blueprint) writeGraph(g *graphWriter) {
	g.buf = append(g.buf, `{"id":`...)
	g.buf = appendJSON(g.buf, bp.id)
	g.buf = append(g.buf, `,"label":`...)
	g.buf = appendJSON(g.buf, bp.cfg.Label)
	g.buf = append(g.buf, `,"design":`...)
	g.buf = appendJSON(g.buf, bp.cfg.Design)
	g.buf = append(g.buf, `,"version":`...)
	g.buf = strconv.AppendInt(g.buf, int64(bp.version), 10)
	g.buf = append(g.buf, `,"last_modified_at":"`...)
	g.buf = append(g.buf, bp.lastModified.Format(timeFormat)...)
	g.buf = append(g.buf, `","source_versions":{"config_blueprint":`...)
	g.buf = strconv.AppendInt(g.buf, int64(bp.version), 10)
	g.buf = append(g.buf, `},"nodes":`...)
	bp.writeNodes(g, nodeFilter{})
	g.buf = append(g.buf, `,"relationships":{`...)
	for j := range bp.cfg.Relationships {
		if j > 0 {
			g.buf = append(g.buf, ',')
		}
		g.buf = bp.appendRelationship(g.buf, j)
		if !g.maybeFlush() {
			return
		}
	}
	g.buf = append(g.buf, "}}"...)
}

// writeNodes writes the nodes object {"<id>":{...},...}, those f selects.
func (bp *blueprint) writeNodes(g *graphWriter, f nodeFilter) {
	g.buf = append(g.buf, '{')
	first := true
	for i := range bp.cfg.Nodes {
		if f.nodeType != "" && bp.nodeType(i) != f.nodeType {
			continue
		}
		if !first {
			g.buf = append(g.buf, ',')
		}
		first = false
		g.buf = append(g.buf, '"')
		g.buf = bp.appendNodeID(g.buf, i)
		g.buf = append(g.buf, `":`...)
		g.buf = bp.appendNode(g.buf, i)
		if !g.maybeFlush() {
			return
		}
	}
	g.buf = append(g.buf, '}')
}

const timeFormat = "2006-01-02T15:04:05.000000Z"

func appendJSON(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

var fillerTypes = [...]string{"interface", "interface", "link", "virtual_network", "tag"}

func (bp *blueprint) nodeType(i int) string {
	if bp.systemKind(i) != sysNone {
		return "system"
	}
	return fillerTypes[(i-bp.systems())%len(fillerTypes)]
}

// systemLabel names system i: spines first, then leafs; servers; new leafs.
func (bp *blueprint) systemLabel(i int) (label, role string) {
	m := bp.cfg.ManagedSystems
	spines := max(1, m/5)
	switch bp.systemKind(i) {
	case sysManaged:
		if i < spines {
			return fmt.Sprintf("spine-%03d", i+1), "spine"
		}
		return fmt.Sprintf("leaf-%03d", i-spines+1), "leaf"
	case sysUnmanaged:
		return fmt.Sprintf("server-%03d", i-m+1), "generic"
	default:
		return fmt.Sprintf("leaf-new-%03d", i-m-bp.cfg.UnmanagedSystems+1), "leaf"
	}
}

// systemID is the serial number of the device assigned to system i.
func (bp *blueprint) systemID(i int) string {
	return fmt.Sprintf("5254%08X", uint32(mix(bp.seed^uint64(i)^0xd1)))
}

func (bp *blueprint) appendNode(b []byte, i int) []byte {
	b = append(b, `{"id":"`...)
	b = bp.appendNodeID(b, i)
	b = append(b, `","type":"`...)
	b = append(b, bp.nodeType(i)...)
	b = append(b, '"')
	switch kind := bp.systemKind(i); kind {
	case sysManaged, sysStagingOnly:
		label, role := bp.systemLabel(i)
		b = fmt.Appendf(b, `,"label":"%s","hostname":"%s","role":"%s","system_type":"switch","system_id":"%s","deploy_mode":"deploy","management_level":"full_control","external":false,"group_label":null,"position_data":{"region":0,"plane":0,"pod":1,"position":%d},"port_channel_id_min":0,"port_channel_id_max":0`,
			label, label, role, bp.systemID(i), i)
		if gen := bp.changed[i]; gen > 0 {
			b = fmt.Appendf(b, `,"tags":["rev-%d"]`, gen)
		} else {
			b = append(b, `,"tags":null`...)
		}
	case sysUnmanaged:
		label, role := bp.systemLabel(i)
		b = fmt.Appendf(b, `,"label":"%s","hostname":"%s","role":"%s","system_type":"server","system_id":null,"deploy_mode":null,"management_level":"unmanaged","external":false,"group_label":"servers","position_data":null,"port_channel_id_min":0,"port_channel_id_max":0,"tags":null`,
			label, label, role)
	default:
		k := i - bp.systems()
		r := mix(bp.seed ^ uint64(i))
		switch bp.nodeType(i) {
		case "interface":
			b = fmt.Appendf(b, `,"label":null,"if_name":"et-0/0/%d","if_type":"ethernet","ipv4_addr":"10.%d.%d.%d/31","ipv6_addr":null,"description":"facing_%s","mode":null,"operation_state":"up","protocols":"ebgp","loopback_id":null,"tags":null`,
				k%48, byte(r), byte(r>>8), byte(r>>16)&0xfe, bp.peerLabel(r))
		case "link":
			b = fmt.Appendf(b, `,"label":"%s<->%s[%d]","link_type":"ethernet","role":"spine_leaf","speed":"100G","group_label":null,"deploy_mode":null,"tags":null`,
				bp.peerLabel(r), bp.peerLabel(r>>20), k%4+1)
		case "virtual_network":
			b = fmt.Appendf(b, `,"label":"vn-%d","vn_type":"vxlan","vn_id":"%d","ipv4_enabled":true,"ipv4_subnet":"10.%d.%d.0/24","virtual_gateway_ipv4":"10.%d.%d.1","l3_mtu":9000,"description":null,"tags":null`,
				k, 10000+k, 100+k/256%100, k%256, 100+k/256%100, k%256)
		default:
			b = fmt.Appendf(b, `,"label":"tag-%d","description":"generated tag %d","tags":null`, k, k)
		}
	}
	return append(b, `,"property_set":null}`...)
}

// peerLabel names a deployed system chosen by r (or a generic peer without one).
func (bp *blueprint) peerLabel(r uint64) string {
	if bp.cfg.ManagedSystems == 0 {
		return "external"
	}
	l, _ := bp.systemLabel(int(r % uint64(bp.cfg.ManagedSystems)))
	return l
}

var relTypes = [...]string{"hosted_interfaces", "link", "composed_of_systems", "member_vns", "tag"}

func (bp *blueprint) appendRelationship(b []byte, j int) []byte {
	r := mix(bp.seed ^ relSalt ^ uint64(j))
	n := uint64(bp.cfg.Nodes)
	src := r % n
	dst := (src + 1 + (r>>32)%max(n-1, 1)) % n
	b = append(b, '"')
	b = appendID(b, mix(uint64(j)^bp.seed^relSalt))
	b = append(b, `":{"id":"`...)
	b = appendID(b, mix(uint64(j)^bp.seed^relSalt))
	b = append(b, `","type":"`...)
	b = append(b, relTypes[j%len(relTypes)]...)
	b = append(b, `","source_id":"`...)
	b = bp.appendNodeID(b, int(src))
	b = append(b, `","target_id":"`...)
	b = bp.appendNodeID(b, int(dst))
	return append(b, `","tags":null,"property_set":null}`...)
}

// renderConfig is the Junos configuration of managed system i (deployed or staged).
func (bp *blueprint) renderConfig(i int) string {
	var b strings.Builder
	_ = bp.writeConfig(&b, i) // a strings.Builder takes every write
	return b.String()
}

// writeConfig writes the Junos configuration of managed system i, generated as it
// goes: a configuration of any ConfigSize is never held whole.
func (bp *blueprint) writeConfig(w io.Writer, i int) error {
	label, role := bp.systemLabel(i)
	gen := bp.changed[i]
	drift := gen // what the change does to the other lines
	if bp.cfg.OneLineChanges {
		drift = 0
	}
	bw := bufio.NewWriter(w)
	b := &countingWriter{w: bw}
	_, _ = fmt.Fprintf(b, "system {\n    host-name %s;\n    /* configuration revision %d */\n}\n", label, gen)
	_, _ = fmt.Fprintf(b, "chassis {\n    aggregated-devices {\n        ethernet {\n            device-count %d;\n        }\n    }\n}\n", 8+drift)
	_, _ = io.WriteString(b, "interfaces {\n") // a failed write shows at the flush
	r := mix(bp.seed ^ uint64(i) ^ 0xc0)
	for k := 0; b.n < int64(bp.cfg.ConfigSize-400); k++ {
		if _, err := fmt.Fprintf(b, "    et-0/0/%d {\n        description \"%s-to-%s\";\n        mtu 9216;\n        unit 0 {\n            family inet {\n                address 10.%d.%d.%d/31;\n            }\n        }\n    }\n",
			k, role, bp.peerLabel(r+uint64(k)), byte(r), byte(k), byte(2*k+drift)); err != nil {
			return err // the reader has gone
		}
	}
	_, _ = fmt.Fprintf(b, "    lo0 {\n        unit 0 {\n            family inet {\n                address 10.255.%d.%d/32;\n            }\n        }\n    }\n}\n", byte(i>>8), byte(i))
	_, _ = fmt.Fprintf(b, "protocols {\n    bgp {\n        group l3clos-%c {\n            type external;\n            multipath multiple-as;\n            neighbor 10.%d.0.0 {\n                peer-as %d;\n            }\n        }\n    }\n}\n",
		role[0], byte(r), 64512+i)
	return bw.Flush()
}
