package apstra

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Collection is a global collection the API exports whole ({"items":[...]}).
type Collection struct {
	// Name is this package's name for it ("design/logical-devices"): fixed here,
	// never device text, so a caller may build file names from it.
	Name string
	// Path is its API path.
	Path string
}

// DesignCatalog lists the design catalog's collections.
var DesignCatalog = []Collection{
	{"design/logical-devices", "/api/design/logical-devices"},
	{"design/interface-maps", "/api/design/interface-maps"},
	{"design/rack-types", "/api/design/rack-types"},
	{"design/templates", "/api/design/templates"},
	{"design/configlets", "/api/design/configlets"},
	{"design/tags", "/api/design/tags"},
	{"design/config-templates", "/api/design/config-templates"},
	{"design/property-sets", "/api/property-sets"},
	{"design/device-profiles", "/api/device-profiles"},
}

// ResourcePools lists the resource pool collections.
var ResourcePools = []Collection{
	{"resources/asn-pools", "/api/resources/asn-pools"},
	{"resources/vni-pools", "/api/resources/vni-pools"},
	{"resources/integer-pools", "/api/resources/integer-pools"},
	{"resources/ip-pools", "/api/resources/ip-pools"},
	{"resources/ipv6-pools", "/api/resources/ipv6-pools"},
	{"resources/vlan-pools", "/api/resources/vlan-pools"},
}

// OpenCollection streams a collection ({"items":[...]}) like OpenBlueprint. A
// collection this server's release does not have answers an error wrapping
// ErrNotFound.
func (c *Client) OpenCollection(ctx context.Context, col Collection) (io.ReadCloser, error) {
	step := "export " + col.Name
	if !strings.HasPrefix(col.Path, "/api/") || strings.Contains(col.Path, "..") || strings.ContainsAny(col.Path, "?#%\\") {
		return nil, c.fail(step, 0, fmt.Sprintf("%q is not an API collection path", col.Path), nil)
	}
	return c.openJSON(ctx, step, col.Path, nil)
}

// Version is the server's version (GET /api/versions/api).
type Version struct {
	Major, Minor, Version, Build string
}

// Version reads the server's version.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var doc struct {
		Major   text `json:"major"`
		Minor   text `json:"minor"`
		Version text `json:"version"`
		Build   text `json:"build"`
	}
	if _, err := c.getJSON(ctx, "read the version", "/api/versions/api", &doc); err != nil {
		return Version{}, err
	}
	return Version{Major: string(doc.Major), Minor: string(doc.Minor), Version: string(doc.Version), Build: string(doc.Build)}, nil
}
