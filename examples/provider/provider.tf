provider "infrabackup" {
  # Where local copies of every backup are written (or INFRABACKUP_BACKUP_DIR).
  backup_dir = "/var/backups/infrabackup"

  # Devices usually have self-signed certificates: trust their CA explicitly.
  ca_cert_pem = file("${path.module}/device-ca.pem")

  aruba = {
    # Or ARUBA_USERNAME / ARUBA_PASSWORD in the environment of the pipeline.
    username = "backup-api"
    password = var.aruba_password
  }

  ilo = {
    # Or ILO_USERNAME / ILO_PASSWORD.
    username = "backup"
    password = var.ilo_password
  }

  # Or APSTRA_USER / APSTRA_PASS, as Juniper's own provider reads them.
  apstra = {}
}

variable "aruba_password" {
  type      = string
  sensitive = true
}

variable "ilo_password" {
  type      = string
  sensitive = true
}
