package redfish

import (
	"context"
	"regexp"
	"strings"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/client"
)

// Manager is what Discover learns about an iLO.
type Manager struct {
	// Generation is the manager type, "iLO 5", "iLO 6" or "iLO 7".
	Generation string
	// Firmware is the iLO firmware version, e.g. "3.09".
	Firmware string
	// Serial is the server's serial number (Systems/1); iLO puts it into backup file
	// names, and a backup restores only onto the server it was taken from.
	Serial string
	// Model is the server model (Systems/1), e.g. "ProLiant DL380 Gen10".
	Model string
	// BackupRestoreServicePath is the HpeiLOBackupRestoreService resource path.
	BackupRestoreServicePath string
}

// serviceRootDoc is what the service root (no session needed) says about the manager.
type serviceRootDoc struct {
	Oem struct {
		Hpe struct {
			Manager []struct {
				ManagerType            string
				ManagerFirmwareVersion string
			}
		}
	}
}

type odataLink struct {
	ID string `json:"@odata.id"`
}

type managerDoc struct {
	Model           string
	FirmwareVersion string
	Oem             struct {
		Hpe struct {
			Links struct {
				BackupRestoreService *odataLink
			}
		}
	}
}

type systemDoc struct {
	SerialNumber string
	Model        string
}

// Discover reads the manager and the system: the two resources a backup needs (the
// backup service's link; the serial number that names the backup's folder and that
// a restore checks). The manager also names the generation and firmware
// (Model "iLO 6", FirmwareVersion "iLO 6 v1.70"), so the service root is not read.
// The backup service path is taken from the manager's Oem.Hpe.Links.BackupRestoreService;
// only when the link is absent is the documented path used (and a log line says so).
// Needs an open session (or opens one).
func (c *Client) Discover(ctx context.Context) (Manager, error) {
	const step = "discover"
	var m Manager
	err := c.call(ctx, step, func(ctx context.Context, token string) error {
		var mgr managerDoc
		if _, err := c.getJSON(ctx, step, managerPath, token, "the manager (Managers/1)", &mgr); err != nil {
			return err
		}
		p, err := c.serviceLink(ctx, step, mgr)
		if err != nil {
			return err
		}
		var sys systemDoc
		if _, err := c.getJSON(ctx, step, systemPath, token, "the system (Systems/1)", &sys); err != nil {
			return err
		}
		m.Generation, m.Firmware = generationAndFirmware(mgr.Model, mgr.FirmwareVersion)
		m.Serial, m.Model, m.BackupRestoreServicePath = sys.SerialNumber, sys.Model, p
		return c.refuseSecrets(step, map[string]string{"serial number": m.Serial, "model": m.Model,
			"generation": m.Generation, "firmware version": m.Firmware})
	})
	if err != nil {
		return Manager{}, err
	}
	c.log(ctx, "discovered", map[string]any{"generation": m.Generation, "firmware": m.Firmware, "serial": m.Serial, "model": m.Model})
	return m, nil
}

// iloFirmwareRE matches an iLO manager's FirmwareVersion: "iLO 6 v1.70".
var iloFirmwareRE = regexp.MustCompile(`^(iLO \d+) v(\S+)$`)

// generationAndFirmware reads the generation ("iLO 6") and the firmware version
// ("1.70", as the service root's ManagerFirmwareVersion has it) from the manager's
// Model and FirmwareVersion. A FirmwareVersion of another form is kept whole.
func generationAndFirmware(model, firmware string) (string, string) {
	model, firmware = strings.TrimSpace(model), strings.TrimSpace(firmware)
	if m := iloFirmwareRE.FindStringSubmatch(firmware); m != nil {
		if model == "" {
			model = m[1]
		}
		if strings.EqualFold(model, m[1]) {
			firmware = m[2]
		}
	}
	return model, firmware
}

// serviceLink returns (and remembers) the backup service path the manager links.
func (c *Client) serviceLink(ctx context.Context, step string, mgr managerDoc) (string, error) {
	link := mgr.Oem.Hpe.Links.BackupRestoreService
	p := DocumentedBackupRestoreServicePath
	if link == nil || link.ID == "" {
		c.log(ctx, "the manager does not link Oem.Hpe.Links.BackupRestoreService; using the documented path", map[string]any{"path": p})
	} else {
		var err error
		if p, err = devicePath(link.ID, true); err != nil {
			return "", &client.DeviceError{Device: c.device, Step: step,
				Message: "the iLO linked its backup service at an unsafe path " + quoteSanitized(link.ID, c.secrets) + ": " + err.Error(),
				Hint:    "this is not what an HPE iLO sends: check that the address is the iLO"}
		}
	}
	c.mu.Lock()
	c.servicePath = p
	c.mu.Unlock()
	return p, nil
}

// backupServicePath returns the discovered service path, reading the manager if
// Discover has not run.
func (c *Client) backupServicePath(ctx context.Context, step string) (string, error) {
	c.mu.Lock()
	p := c.servicePath
	c.mu.Unlock()
	if p != "" {
		return p, nil
	}
	err := c.call(ctx, step, func(ctx context.Context, token string) error {
		var mgr managerDoc
		if _, err := c.getJSON(ctx, step, managerPath, token, "the manager (Managers/1)", &mgr); err != nil {
			return err
		}
		var err error
		p, err = c.serviceLink(ctx, step, mgr)
		return err
	})
	return p, err
}
