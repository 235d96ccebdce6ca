# Weekly backups of a site's devices into an S3 bucket, from a scheduled CI job whose
# runner is thrown away afterwards:
#
#   terraform apply -auto-approve -input=false -var "backup_week=$(date -u +%G-W%V)"
#
# A new week is a new trigger, so every device gets a new backup; a rerun within the
# week changes nothing. The backups stay in the bucket, where another configuration
# (../reader), another runner or another pipeline finds them. Credentials come from
# the job's environment, never from this file:
#   - the bucket: the standard AWS chain (an OIDC web identity role in CI —
#     AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE —, or AWS_PROFILE, or
#     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY);
#   - the devices: ARUBA_USERNAME / ARUBA_PASSWORD, ILO_USERNAME / ILO_PASSWORD and
#     APSTRA_USER / APSTRA_PASS; for Apstra snapshots, TF_VAR_apstra_ssh_password.
#
# `make demo-s3` runs this configuration against the simulated devices and a local
# S3-compatible server (versitygw).

terraform {
  required_providers {
    infrabackup = {
      source = "infrabackup/infrabackup"
    }
  }
  # Keep the state in durable storage too, for example in the same bucket:
  # backend "s3" {
  #   bucket       = "acme-network-backups"
  #   key          = "terraform/site-a.tfstate"
  #   region       = "eu-central-1"
  #   use_lockfile = true
  # }
}

variable "backup_week" {
  description = "The run's ISO week (date -u +%G-W%V): when it changes, every device is backed up."
  type        = string
}

variable "bucket" {
  type = string
}

variable "key_prefix" {
  description = "Folder of this site's backups in the bucket."
  type        = string
  default     = "site-a"
}

variable "region" {
  description = "The bucket's region; null for AWS_REGION or an S3-compatible server."
  type        = string
  default     = null
}

variable "endpoint" {
  description = "Base URL of an S3-compatible server; null for AWS S3."
  type        = string
  default     = null
}

variable "s3_ca_cert_pem_file" {
  description = "PEM file of the CA that signed the S3-compatible server's certificate; null when a public CA did."
  type        = string
  default     = null
}

variable "object_lock_days" {
  description = "Object Lock (COMPLIANCE) period of every backup, for a bucket created with Object Lock; 0 for none."
  type        = number
  default     = 0
}

variable "keep_last" {
  description = "Retention: keep the newest N backups of each device..."
  type        = number
  default     = 8
}

variable "keep_days" {
  description = "... and every backup younger than N days."
  type        = number
  default     = 90
}

variable "device_ca_cert_pem_file" {
  description = "PEM file of the CA that signed the devices' certificates."
  type        = string
}

variable "conductors" {
  description = "Conductors to back up: name => { host, port }. The name is the backup's folder in the bucket."
  type = map(object({
    host = string
    port = number
  }))
  default = {}
}

variable "ilos" {
  description = "iLOs to back up: name => { host, port }."
  type = map(object({
    host = string
    port = number
  }))
  default = {}
}

variable "apstras" {
  description = "Apstra servers to back up: name => { host, port }. With ssh_host_key, Apstra's own snapshot (sudo aos_backup) lands in the same backup, over SSH (ssh_host, default host; ssh_port, default 22) as apstra_ssh_username."
  type = map(object({
    host         = string
    port         = number
    ssh_host     = optional(string)
    ssh_port     = optional(number, 22)
    ssh_host_key = optional(string)
  }))
  default = {}
}

variable "apstra_ssh_username" {
  description = "SSH user of the Apstra snapshots; it needs sudo rights for aos_backup."
  type        = string
  default     = "admin"
}

variable "apstra_ssh_password" {
  description = "SSH (and sudo) password of the Apstra snapshots: set TF_VAR_apstra_ssh_password from a CI secret."
  type        = string
  default     = null
  sensitive   = true
}

variable "scp" {
  description = "SCP server the conductors push their flash archives to (null: running configs only)."
  type = object({
    host     = string
    port     = number
    username = string
    password = string
    host_key = string
  })
  default   = null
  sensitive = true
}

provider "infrabackup" {
  ca_cert_pem = file(var.device_ca_cert_pem_file)

  s3 = {
    bucket         = var.bucket
    key_prefix     = var.key_prefix
    region         = var.region
    endpoint       = var.endpoint
    use_path_style = var.endpoint != null
    ca_cert_pem    = var.s3_ca_cert_pem_file == null ? null : file(var.s3_ca_cert_pem_file)
    object_lock    = var.object_lock_days == 0 ? null : { mode = "COMPLIANCE", retention_days = var.object_lock_days }
  }

  retention = {
    keep_last = var.keep_last
    keep_days = var.keep_days
  }

  aruba  = {} # ARUBA_USERNAME / ARUBA_PASSWORD
  ilo    = {} # ILO_USERNAME / ILO_PASSWORD
  apstra = {} # APSTRA_USER / APSTRA_PASS
}

resource "infrabackup_aruba_conductor_backup" "this" {
  for_each = var.conductors

  host    = each.value.host
  port    = each.value.port
  name    = each.key
  trigger = var.backup_week

  scp = var.scp == null ? null : {
    host        = var.scp.host
    port        = var.scp.port
    username    = var.scp.username
    password_wo = var.scp.password
    remote_dir  = "conductors"
    host_key    = var.scp.host_key
    # The default: the flash archive and saved configuration are also copied into
    # the bucket, from the SFTP read that verifies them, so the bucket holds each
    # conductor's complete backup. It costs bucket space and an upload per archive.
    copy_to_store = true
  }
}

resource "infrabackup_ilo_backup" "this" {
  for_each = var.ilos

  host    = each.value.host
  port    = each.value.port
  name    = each.key
  trigger = var.backup_week
}

resource "infrabackup_apstra_backup" "this" {
  for_each = var.apstras

  host    = each.value.host
  port    = each.value.port
  name    = each.key
  trigger = var.backup_week

  snapshot = each.value.ssh_host_key == null ? null : {
    host        = coalesce(each.value.ssh_host, each.value.host)
    port        = each.value.ssh_port
    username    = var.apstra_ssh_username
    password_wo = var.apstra_ssh_password
    host_key    = each.value.ssh_host_key
  }
}

output "conductor_backups" {
  description = "Where each conductor's backup landed: s3:// objects (with scp, the copies of the files pushed there too), and scp:// files."
  value = {
    for name, b in infrabackup_aruba_conductor_backup.this : name => {
      completed_at           = b.completed_at
      running_config_changed = b.running_config_changed
      files                  = [for f in b.files : coalesce(f.path, f.location)]
    }
  }
}

output "ilo_backups" {
  description = "Where each iLO's backup landed."
  value = {
    for name, b in infrabackup_ilo_backup.this : name => {
      completed_at  = b.completed_at
      serial_number = b.serial_number
      files         = [for f in b.files : coalesce(f.path, f.location)]
    }
  }
}

output "apstra_backups" {
  description = "Where each Apstra server's blueprint exports (and snapshot) landed, and what changed."
  value = {
    for name, b in infrabackup_apstra_backup.this : name => {
      completed_at = b.completed_at
      files = [for f in b.files : coalesce(f.path, f.location)
      if endswith(f.kind, "-graph") || f.kind == "aos-snapshot"]
      blueprints = [for bp in b.blueprints_backed_up :
        "${bp.label} version ${bp.version}: ${length(bp.devices)} device configurations, ${length(bp.skipped)} skipped; changed: ${bp.changed}, devices changed: ${length(bp.changed_devices)}"
      ]
    }
  }
}
