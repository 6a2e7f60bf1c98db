/**
 * Every output kind, in falcosidekick's init order (the order of "Enabled Outputs"). Adding an output:
 * its file beside this one, its test, and one line below.
 */
import { AlertManager } from "./AlertManager.js"
import { Cliq } from "./Cliq.js"
import type { AnyOutputDefinition } from "./Definition.js"
import { Discord } from "./Discord.js"
import { Elasticsearch } from "./Elasticsearch.js"
import { GoogleChat } from "./GoogleChat.js"
import { Gotify } from "./Gotify.js"
import { GrafanaOnCall } from "./GrafanaOnCall.js"
import { Loki } from "./Loki.js"
import { Mattermost } from "./Mattermost.js"
import { Opsgenie } from "./Opsgenie.js"
import { PagerDuty } from "./PagerDuty.js"
import { RocketChat } from "./RocketChat.js"
import { Slack } from "./Slack.js"
import { Smtp } from "./Smtp.js"
import { Teams } from "./Teams.js"
import { Telegram } from "./Telegram.js"
import { Webex } from "./Webex.js"
import { Webhook } from "./Webhook.js"

export const outputs: ReadonlyArray<AnyOutputDefinition> = [
  Slack,
  Cliq,
  RocketChat,
  Mattermost,
  Teams,
  Webex,
  Discord,
  AlertManager,
  Elasticsearch,
  Loki,
  Smtp,
  Opsgenie,
  Webhook,
  GoogleChat,
  PagerDuty,
  GrafanaOnCall,
  Gotify,
  Telegram
]
