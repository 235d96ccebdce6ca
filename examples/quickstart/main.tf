# Quickstart: back up every device listed in terraform.tfvars.json. `make demo` runs
# it against the built-in device simulators; point the variables at real devices to
# use it for real.

terraform {
  required_providers {
    infrabackup = {
      source = "infrabackup/infrabackup"
    }
  }
}

variable "backup_dir" {
  type = string
}

variable "ca_cert_pem_file" {
  description = "PEM file of the CA that signed the devices' certificates."
  type        = string
}

variable "aruba_username" {
  type = string
}

variable "aruba_password" {
  type      = string
  sensitive = true
}

variable "conductors" {
  description = "Conductors to back up: name => { host, port }."
  type = map(object({
    host = string
    port = number
  }))
  default = {}
}

variable "ilo_username" {
  type    = string
  default = ""
}

variable "ilo_password" {
  type      = string
  sensitive = true
  default   = ""
}

variable "ilos" {
  description = "iLOs to back up: name => { host, port }."
  type = map(object({
    host = string
    port = number
  }))
  default = {}
}

variable "apstra_username" {
  type    = string
  default = ""
}

variable "apstra_password" {
  type      = string
  sensitive = true
  default   = ""
}

variable "apstras" {
  description = "Juniper Apstra servers to back up: name => { host, port, ssh }. With ssh (SSH host, port, username, password and host key), Apstra's own snapshot (sudo aos_backup) lands in the backup too."
  type = map(object({
    host = string
    port = number
    ssh = optional(object({
      host     = string
      port     = number
      username = string
      password = string
      host_key = string
    }))
  }))
  default = {}
}

variable "scp" {
  description = "SCP server the conductors push their files to (null: local copies only)."
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

variable "backup_trigger" {
  description = "Change it to take new backups. In production use time_rotating (see README)."
  type        = string
  default     = "initial"
}

provider "infrabackup" {
  backup_dir  = var.backup_dir
  ca_cert_pem = file(var.ca_cert_pem_file)
  aruba = {
    username = var.aruba_username
    password = var.aruba_password
  }
  ilo = {
    username = var.ilo_username
    password = var.ilo_password
  }
  apstra = {
    username = var.apstra_username
    password = var.apstra_password
  }
}

resource "infrabackup_aruba_conductor_backup" "this" {
  for_each = var.conductors

  host    = each.value.host
  port    = each.value.port
  name    = each.key
  trigger = var.backup_trigger

  scp = var.scp == null ? null : {
    host        = var.scp.host
    port        = var.scp.port
    username    = var.scp.username
    password_wo = var.scp.password
    remote_dir  = "conductors"
    host_key    = var.scp.host_key
  }
}

output "conductor_backups" {
  description = "Where each conductor's backup landed."
  value = {
    for name, b in infrabackup_aruba_conductor_backup.this : name => {
      completed_at           = b.completed_at
      running_config_changed = b.running_config_changed
      files                  = [for f in b.files : coalesce(f.path, f.location)]
    }
  }
}

resource "infrabackup_ilo_backup" "this" {
  for_each = var.ilos

  host    = each.value.host
  port    = each.value.port
  name    = each.key
  trigger = var.backup_trigger
}

output "ilo_backups" {
  description = "Where each iLO's backup landed."
  value = {
    for name, b in infrabackup_ilo_backup.this : name => {
      completed_at  = b.completed_at
      serial_number = b.serial_number
      files         = [b.local_path]
    }
  }
}

resource "infrabackup_apstra_backup" "this" {
  for_each = var.apstras

  host    = each.value.host
  port    = each.value.port
  name    = each.key
  trigger = var.backup_trigger

  snapshot = each.value.ssh == null ? null : {
    host        = each.value.ssh.host
    port        = each.value.ssh.port
    username    = each.value.ssh.username
    password_wo = each.value.ssh.password
    host_key    = each.value.ssh.host_key
  }
}

output "apstra_backups" {
  description = "Where each Apstra server's backup landed: its blueprint exports (and snapshot), and what changed."
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

# The fleet report: every device in the store with its last attempt and whether it is
# stale. depends_on makes Terraform read it after this run's backups.
data "infrabackup_backups" "fleet" {
  max_age    = "8d"
  depends_on = [infrabackup_aruba_conductor_backup.this, infrabackup_ilo_backup.this, infrabackup_apstra_backup.this]
}

output "fleet_summary" {
  description = "The fleet report as a Markdown table, ready for a CI job summary."
  value       = data.infrabackup_backups.fleet.summary_markdown
}
