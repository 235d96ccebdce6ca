package devicesim

// Listing is the JSON document the devicesim command prints on stdout: everything a
// client (the demo, a benchmark, a person) needs to reach the simulated devices.
type Listing struct {
	// CACertFile is a PEM file holding the CA that signed every device's certificate.
	CACertFile string       `json:"ca_cert_file"`
	Devices    []DeviceInfo `json:"devices"`
	SFTP       *SFTPInfo    `json:"sftp,omitempty"`
}

// DeviceInfo describes one simulated device: who it is and where it listens.
type DeviceInfo struct {
	Identity
	URL      string `json:"url"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	StatsURL string `json:"stats_url"`
	// SSH is the device's own SSH/SFTP side, for devices reached over SSH too
	// (Apstra's aos_backup); RootDir is its filesystem.
	SSH *SFTPInfo `json:"ssh,omitempty"`
}

// SFTPInfo describes the simulated SCP/SFTP server conductors upload to.
type SFTPInfo struct {
	Address            string `json:"address"` // host:port
	Username           string `json:"username"`
	Password           string `json:"password"`
	RootDir            string `json:"root_dir"`
	HostKey            string `json:"host_key"`             // authorized_keys format
	HostKeyFingerprint string `json:"host_key_fingerprint"` // SHA256:...
}
